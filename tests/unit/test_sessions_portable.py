"""JSON/Markdown export and JSON import: round trips, readable Markdown, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.helpers_sessions.steps import make_steps
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.sessions import SessionStore
from workbench.sessions.portable import (
    ImportFileError,
    export_markdown,
    export_session,
    import_file,
    import_session,
    to_json,
)


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    with SessionStore(tmp_path / "workbench.db") as s:
        yield s


def rich_session(store: SessionStore) -> int:
    """System prompt, two branches, a stopped reply, an error reply, token records, stats."""
    sampling = SamplingSettings(temperature=0.7, top_k=50, top_p=0.9, seed=3)
    sid = store.create_session(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        load=LoadSettings(model="HuggingFaceTB/SmolLM2-135M-Instruct", dtype="float32"),
        sampling=sampling,
        ui={"system_prompt": "Be brief.", "top_k_shown": 10},
    )
    store.add_message(sid, "system", "Be brief.")
    q = store.add_message(sid, "user", "Show me **Python** code [bold]now[/]")
    first = store.start_reply(sid, q, sampling)
    store.finish_reply(
        first, "Here:\n\n```python\nprint('hi')\n```\n", "complete", {"tokens_per_s": 21.5}, make_steps(12, 1)
    )
    store.add_message(sid, "user", "thanks")
    store.add_message(sid, "assistant", "oops", status="error", stats={"error": "out of memory"})
    other = store.start_reply(sid, q, sampling)  # a regenerated reply on another branch
    store.append_reply(other, "An alternative \x1b]52;c;ZXZpbA==\x07 reply", make_steps(20, 2))
    store.finish_reply(
        other,
        "An alternative \x1b]52;c;ZXZpbA==\x07 reply",
        "stopped",
        {"finish_reason": "user"},
        make_steps(5, 3, start=20),
    )
    return sid


def assert_same_session(store: SessionStore, a: int, b: int, tokens: bool = True) -> None:
    sa, sb = store.get_session(a), store.get_session(b)
    assert (sa.title, sa.model, sa.load, sa.sampling, sa.ui) == (
        sb.title,
        sb.model,
        sb.load,
        sb.sampling,
        sb.ui,
    )
    assert abs(sa.created - sb.created) < 1e-3
    ta, tb = store.tree(a), store.tree(b)
    ids = {x.id: y.id for x, y in zip(ta, tb, strict=True)}
    for x, y in zip(ta, tb, strict=True):
        assert (x.role, x.content, x.status, x.stats, x.sampling) == (
            y.role,
            y.content,
            y.status,
            y.stats,
            y.sampling,
        )
        assert (ids[x.parent_id] if x.parent_id else None) == y.parent_id
        assert abs(x.created - y.created) < 1e-3
        if tokens:
            assert store.token_steps(x.id) == store.token_steps(y.id)
        else:
            assert store.token_steps(y.id) == []
    assert [m.chat() for m in store.messages(a)] == [m.chat() for m in store.messages(b)]
    assert ids[sa.active_leaf_id] == sb.active_leaf_id


def test_json_export_shape(store: SessionStore) -> None:
    sid = rich_session(store)
    data = export_session(store, sid)
    assert data["format"] == "workbench-session" and data["version"] == 1
    assert data["title"] == "Show me **Python** code [bold]now[/]"
    assert data["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert data["settings"]["sampling"]["temperature"] == 0.7
    assert data["settings"]["ui"]["system_prompt"] == "Be brief."
    assert data["created"].endswith("+00:00")
    # the active branch, in the chat format apply_chat_template and OpenAI-style APIs take
    assert [m["role"] for m in data["messages"]] == ["system", "user", "assistant"]
    assert all(set(m) == {"role", "content"} for m in data["messages"])
    assert len(data["tree"]) == 6 and "tokens" not in data
    assert {e["status"] for e in data["tree"]} == {"complete", "error", "stopped"}
    with_tokens = export_session(store, sid, include_tokens=True)
    assert [len(t["steps"]) for t in with_tokens["tokens"]] == [12, 25]
    assert with_tokens["tokens"][1]["message"] == 2 and with_tokens["tokens"][0]["message"] is None
    assert json.loads(to_json(with_tokens)) == with_tokens


def test_to_json_escapes_terminal_controls_and_surrogates() -> None:
    data = {"content": "a\x1b[2J b\x9b c\ud800 é"}
    text = to_json(data)
    assert "\x1b" not in text and "\x9b" not in text and "é" in text
    text.encode("utf-8")  # lone surrogates escaped: writable as UTF-8
    assert json.loads(text) == data


def test_json_round_trip_gives_an_equal_session(store: SessionStore, tmp_path: Path) -> None:
    sid = rich_session(store)
    path = tmp_path / "export.json"
    path.write_text(to_json(export_session(store, sid, include_tokens=True)), encoding="utf-8")
    new = import_file(store, path)
    assert new != sid
    assert_same_session(store, sid, new)


def test_round_trip_without_tokens(store: SessionStore) -> None:
    sid = rich_session(store)
    new = import_session(store, json.loads(to_json(export_session(store, sid))))
    assert_same_session(store, sid, new, tokens=False)


def test_markdown_export_reads_well(store: SessionStore) -> None:
    sid = rich_session(store)
    md = export_markdown(store, sid)
    lines = md.splitlines()
    assert lines[0] == "# Show me **Python** code [bold]now[/]"
    assert "- **Model:** `HuggingFaceTB/SmolLM2-135M-Instruct`" in lines
    assert any(line.startswith("- Sampling: temperature 0.7 · top k 50 · top p 0.9") for line in lines)
    assert [line for line in lines if line.startswith("## ")] == [
        "## System",
        "## User",
        "## Assistant (stopped)",
    ]
    assert "> **Stopped** before the reply finished (stopped by the user)." in lines
    assert "*tokens: 25 · finish reason: user*" in lines
    assert "3 more message(s) on other branches are not shown" in md
    assert "\x1b" not in md and "\x07" not in md and "␛]52;c;ZXZpbA==␇" in md
    store.set_active_leaf(sid, store.tree(sid)[2].id)
    md = export_markdown(store, sid)
    assert "```python\nprint('hi')\n```" in md  # assistant Markdown kept as it is
    assert "*tokens: 12 · tokens per s: 21.5*" in md


def test_markdown_marks_error_and_interrupted_replies(store: SessionStore, tmp_path: Path) -> None:
    sid = rich_session(store)
    store.set_active_leaf(sid, store.tree(sid)[4].id)
    md = export_markdown(store, sid)
    assert "## Assistant (error)" in md and "> **Error:** the reply failed: out of memory" in md
    reply = store.start_reply(sid)
    store.append_reply(reply, "half a", [])
    with SessionStore(store.path) as other:  # the writer is alive, but another process sees a dead reply
        assert "the app was closed while it was writing" in export_markdown(other, sid)


def test_import_openai_style_messages(store: SessionStore) -> None:
    chat = [
        {"role": "developer", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": "Hi."},
    ]
    sid = import_session(store, chat)
    assert [m.chat() for m in store.messages(sid)] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi."},
    ]
    assert store.get_session(sid).title == "Hello there"
    assert store.get_session(sid).model == "default"
    body = import_session(store, {"model": "gpt2", "messages": chat[1:]})
    assert store.get_session(body).model == "gpt2"


def _export(store: SessionStore) -> dict[str, Any]:
    return json.loads(to_json(export_session(store, rich_session(store), include_tokens=True)))


def _bad_exports(good: dict[str, Any]) -> list[tuple[Any, str]]:
    def changed(**changes: Any) -> dict[str, Any]:
        data = json.loads(json.dumps(good))
        for key, value in changes.items():
            if value is _DROP:
                del data[key]
            else:
                data[key] = value
        return data

    tree_bad_parent = changed()
    tree_bad_parent["tree"][1]["parent_id"] = 999
    bad_step = changed()
    bad_step["tokens"][0]["steps"][3]["p"] = "high"
    bad_candidate = changed()
    bad_candidate["tokens"][0]["steps"][0]["candidates"][2] = [1, "x"]
    bad_role = changed()
    bad_role["tree"][0]["role"] = "wizard"
    out_of_range = changed()  # passes validation, fails while writing: the transaction must undo it all
    out_of_range["tokens"][1]["steps"][0]["token_id"] = 2**40
    return [
        (changed(messages=_DROP), "missing the field 'messages'"),
        (changed(version=_DROP), "missing the field 'version'"),
        (changed(format="something-else"), "not a workbench session export"),
        (changed(version=99), "newer workbench"),
        (changed(messages="hello"), "messages must be a list"),
        (changed(title=5), "title must be text, not a number"),
        (changed(settings={"sampling": {"temperature": -1}}), "settings are not valid: temperature"),
        (changed(tree={"a": 1}), "tree must be a list"),
        (tree_bad_parent, r"tree\[1\].parent_id"),
        (bad_role, r"tree\[0\].role is 'wizard'"),
        (bad_step, r"tokens\[0\].steps\[3\].p must be a number or null, not text"),
        (bad_candidate, r"candidates\[2\] must be a list \[token_id"),
        (out_of_range, "out of range"),
        ({"hello": "world"}, "not a workbench session export"),
        ([{"role": "user"}], r"messages\[0\] is missing the field 'content'"),
        ([{"role": "user", "content": 3}], r"messages\[0\].content must be text, not a number"),
        ([{"role": "tool", "content": "x"}], "role must be one of|a role must be one of"),
        ("just a string", "not text"),
    ]


_DROP = object()


def test_bad_imports_say_what_is_wrong_and_write_nothing(store: SessionStore, tmp_path: Path) -> None:
    good = _export(store)
    before = [(s.id, s.title, s.message_count) for s in store.list_sessions()]
    chunks_before = store._conn.execute("SELECT count(*) FROM token_chunks").fetchone()[0]
    for data, message in _bad_exports(good):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(WorkbenchError, match=message):
            import_file(store, path)
        assert [(s.id, s.title, s.message_count) for s in store.list_sessions()] == before, message
    assert store._conn.execute("SELECT count(*) FROM token_chunks").fetchone()[0] == chunks_before
    assert store.check() == ["ok"]


def test_files_that_are_not_json(store: SessionStore, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("# my notes\nnot json at all", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"notes.txt is not a JSON session export \(not valid JSON"):
        import_file(store, text)
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ImportFileError, match="not UTF-8 text"):
        import_file(store, binary)
    with pytest.raises(ImportFileError, match="cannot read"):
        import_file(store, tmp_path / "missing.json")
    assert store.list_sessions() == []
