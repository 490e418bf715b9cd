"""The command line when its streams misbehave: stdout closed (``>&-``), a reader that has gone
(``| head -c 10``), and arguments that are not UTF-8. Each gives one ``workbench: error:`` line
on stderr and a non-zero exit, never a traceback. Run as a user runs it: real subprocesses,
real pipes, the tiny random model saved as a folder (fast to load)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.models import smol_tokenizer, tiny_loaded

BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_loaded().model.save_pretrained(folder)
    smol_tokenizer().save_pretrained(folder)
    return str(folder)


def command(*args: str | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "workbench", *args]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("workbench: error: "), stderr
    return lines[0]


def run_into_a_broken_pipe(*args: str) -> subprocess.CompletedProcess:
    """stdout is a pipe whose reader has already gone: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            command(*args),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            env=os.environ.copy(),
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "hi", "--max-new-tokens", "5"],
        ["generate", "hi", "--max-new-tokens", "5", "--show-probs"],
        ["generate", "hi", "--max-new-tokens", "5", "--json"],
        ["probe", "hi"],
        ["tokenize", "hello world", "--json"],
        ["sessions", "list"],
    ],
)
def test_a_reader_that_went_away_gives_one_line_and_the_sigpipe_exit(tiny_folder, args):
    if args[0] != "sessions":
        args = [*args, "--model", tiny_folder]
    result = run_into_a_broken_pipe(*args)
    line = one_error_line(result.stderr)
    assert "broken pipe" in line
    assert result.returncode == BROKEN_PIPE_EXIT


def test_a_closed_stdout_is_named_before_the_model_loads(tiny_folder):
    # exactly what `workbench generate hi >&-` does in a shell
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command("generate", "hi", "--model", tiny_folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    line = one_error_line(result.stderr)
    assert "standard output is closed" in line
    assert result.returncode == 1


def test_a_closed_stdout_still_lets_an_export_write_its_file(tmp_path):
    # only what writes to stdout fails: an export to a file needs no stdout
    chat = tmp_path / "chat.json"
    chat.write_text('[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]')
    assert subprocess.run(command("sessions", "import", str(chat)), capture_output=True).returncode == 0
    out = tmp_path / "out.md"
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command("sessions", "export", "last", "--out", str(out))],
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    assert "hello" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "what"),
    [
        ([b"probe", b"\xff"], "TEXT"),
        ([b"tokenize", b"a\xffb"], "TEXT"),
        ([b"generate", b"caf\xc3", b"--chat"], "PROMPT"),
        ([b"generate", b"hi", b"--chat", b"--system", b"\xfe\xff"], "--system"),
        ([b"sessions", b"rename", b"1", b"x\x80y"], "TITLE"),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_in_one_line(args, what):
    result = subprocess.run(
        command(*args), capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )
    line = one_error_line(result.stderr)
    assert "not valid UTF-8" in line and what in line
    assert result.returncode == 2
