"""``workbench sessions ...`` through workbench.cli.main, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.helpers_sessions.steps import make_steps
from workbench.cli import main
from workbench.sessions import SessionStore

ROOT = Path(__file__).resolve().parents[2]
NASTY_TITLE = "[bold]loud[/] \x1b[2J\x1b]0;pwned\x07 title"


@pytest.fixture
def saved(workbench_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Two sessions in the default database (under WORKBENCH_HOME)."""
    monkeypatch.setenv("COLUMNS", "200")  # Rich tables: no wrapping inside the titles we look for
    with SessionStore() as store:
        first = store.create_session("default", sampling={"temperature": 0.7})
        store.add_message(first, "user", "What is the capital of France?")
        reply = store.start_reply(first)
        store.finish_reply(
            reply,
            "It is Paris, by the river Seine.",
            stats={"tokens_per_s": 30.0},
            remaining_steps=make_steps(8),
        )
        second = store.create_session("HuggingFaceTB/SmolLM2-360M-Instruct")
        store.add_message(second, "user", "hello")
        store.rename(second, NASTY_TITLE)
    return {"first": first, "second": second}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["sessions", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_before_anything_is_saved(capsys: pytest.CaptureFixture[str], workbench_home: Path) -> None:
    assert run(capsys, "list") == (0, "No saved sessions yet.\n", "")
    assert run(capsys, "list", "--json")[1] == "[]\n"
    code, _, err = run(capsys, "show", "last")
    assert code == 1 and "no sessions saved yet" in err
    assert not (workbench_home / "data" / "workbench.db").exists()  # reading creates nothing


def test_list_table_and_json(capsys: pytest.CaptureFixture[str], saved: dict[str, int]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "2 sessions" in out and "What is the capital of France?" in out
    assert "[bold]loud[/]" in out  # shown literally, not as markup
    assert "\x1b" not in out and "\x07" not in out and "␛[2J" in out
    code, out, _ = run(capsys, "list", "--json")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [saved["second"], saved["first"]]
    assert rows[1]["messages"] == 2 and rows[1]["model"] == "default"


def test_list_search(capsys: pytest.CaptureFixture[str], saved: dict[str, int]) -> None:
    code, out, _ = run(capsys, "list", "--search", "seine")
    assert code == 0 and "1 session matching 'seine'" in out and "river Seine" in out
    rows = json.loads(run(capsys, "list", "--search", "seine", "--json")[1])
    assert [r["id"] for r in rows] == [saved["first"]]
    assert run(capsys, "list", "--search", "zzzz")[1] == "No sessions match.\n"


def test_show(capsys: pytest.CaptureFixture[str], saved: dict[str, int]) -> None:
    code, out, _ = run(capsys, "show", str(saved["first"]))
    assert code == 0
    assert "What is the capital of France?" in out and "It is Paris" in out and "temperature 0.7" in out
    code, out, _ = run(capsys, "show", "last")
    assert "[bold]loud[/]" in out and "\x1b" not in out
    data = json.loads(run(capsys, "show", "last", "--json")[1])
    assert data["id"] == saved["second"] and data["messages"] == [{"role": "user", "content": "hello"}]
    code, _, err = run(capsys, "show", "77")
    assert code == 1 and err == "workbench: error: there is no session 77\n"


def test_export_and_import_round_trip(
    capsys: pytest.CaptureFixture[str], saved: dict[str, int], tmp_path: Path
) -> None:
    out_file = tmp_path / "chat.json"
    code, _, err = run(
        capsys, "export", str(saved["first"]), "--format", "json", "--out", str(out_file), "--tokens"
    )
    assert code == 0 and f"wrote session {saved['first']}" in err
    exported = json.loads(out_file.read_text(encoding="utf-8"))
    assert len(exported["tokens"][0]["steps"]) == 8
    code, out, _ = run(capsys, "import", str(out_file))
    assert code == 0 and "imported session 3: What is the capital of France? (2 messages)" in out
    with SessionStore() as store:
        assert [m.chat() for m in store.messages(3)] == [m.chat() for m in store.messages(saved["first"])]
        assert store.token_steps(store.messages(3)[-1].id) == make_steps(8)
    # stdout, and the format taken from the file's suffix
    assert json.loads(run(capsys, "export", "last")[1])["format"] == "workbench-session"
    md_file = tmp_path / "chat.md"
    assert run(capsys, "export", str(saved["first"]), "--out", str(md_file))[0] == 0
    assert md_file.read_text(encoding="utf-8").startswith("# What is the capital of France?\n")
    code, out, _ = run(capsys, "export", str(saved["second"]), "--format", "md")
    assert out.startswith("# [bold]loud[/] ␛[2J") and "\x1b" not in out
    code, _, err = run(capsys, "export", "last", "--format", "md", "--tokens")
    assert code == 2 and "--tokens only goes with --format json" in err


def test_import_errors_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], saved: dict[str, int], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, "import", str(bad))
    assert (
        code == 1
        and err.startswith("workbench: error: ")
        and "not valid JSON" in err
        and err.count("\n") == 1
    )
    bad.write_text(json.dumps({"format": "workbench-session", "version": 1}), encoding="utf-8")
    code, _, err = run(capsys, "import", str(bad))
    assert code == 1 and "missing the field 'messages'" in err
    assert len(json.loads(run(capsys, "list", "--json")[1])) == 2


def test_rename(capsys: pytest.CaptureFixture[str], saved: dict[str, int]) -> None:
    code, out, _ = run(capsys, "rename", str(saved["first"]), "Geography")
    assert code == 0 and "is now “Geography”" in out
    assert json.loads(run(capsys, "show", str(saved["first"]), "--json")[1])["title"] == "Geography"
    code, _, err = run(capsys, "rename", "last", "   ")
    assert code == 1 and "empty" in err


def test_delete_needs_confirmation(
    capsys: pytest.CaptureFixture[str], saved: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    code, _, err = run(capsys, "delete", str(saved["first"]))
    assert code == 1 and "without confirmation; pass --yes" in err
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    questions: list[str] = []
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or next(answers))
    code, _, err = run(capsys, "delete", str(saved["first"]))
    assert code == 1 and "not deleted" in err
    assert questions[0].startswith(
        f"Delete session {saved['first']} “What is the capital of France?” (2 messages)?"
    )
    code, _, err = run(capsys, "delete", str(saved["first"]))
    assert code == 0 and f"deleted session {saved['first']}" in err
    code, _, err = run(capsys, "delete", str(saved["second"]), "--yes")
    assert code == 0
    assert json.loads(run(capsys, "list", "--json")[1]) == []


def test_a_real_process_lists_sessions_without_torch(saved: dict[str, int], workbench_home: Path) -> None:
    script = (
        "import sys; from workbench.cli import main; code = main(['sessions', 'list', '--json']);"
        "heavy = sorted(m for m in ('torch', 'transformers', 'textual') if m in sys.modules);"
        "print('heavy:', heavy, file=sys.stderr); sys.exit(code)"
    )
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)] == [saved["second"], saved["first"]]
    assert "heavy: []" in done.stderr


def test_export_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sessions", "export", "--help"])
    assert exit_info.value.code == 0
    assert "--format" in capsys.readouterr().out
