"""A long reply ended from outside, and model output full of escape sequences, in a real terminal.

- SIGTERM or a hung-up terminal mid-reply: the reply (300+ tokens) is saved as stopped with
  every token that reached the app (issue 8: "stop the reply and save it").
- SIGKILL mid-reply: the prefix saved while streaming is there, marked interrupted (issue 9).
- A model whose greedy answer is an OSC 0 escape sequence: the pane's title is unchanged and the
  screen shows the ESC as a visible stand-in (issue 9: "model output carrying escape sequences").
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.tmux import TmuxApp, wait_gone
from tests.models import save_tiny_folder, scripted_model, smol_tokenizer
from workbench import paths
from workbench.sessions.store import SessionStore

pytestmark = pytest.mark.slow

if shutil.which("tmux") is None:  # `make test` installs tmux; this only guards a hand-run pytest
    pytest.skip("tmux is not installed (make test installs it)", allow_module_level=True)

WORKBENCH = Path(sys.executable).with_name("workbench")  # the installed console script
LONG = 300  # tokens streamed before the reply is ended from outside


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-long-model")
    return save_tiny_folder(folder)


@pytest.fixture
def long_replies(workbench_home: Path) -> None:
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[sampling]\nseed = 7\nmax_new_tokens = 4000\n[model]\ndevice = "cpu"\n')


def streaming_reply() -> tuple[int, int]:
    """(id, tokens saved so far) of the reply being streamed, read off the database file."""
    db = paths.database_file()
    if not db.exists():
        return 0, 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT m.id, COALESCE(SUM(c.count), 0) FROM messages m LEFT JOIN token_chunks c"
            " ON c.message_id = m.id WHERE m.role = 'assistant' AND m.status = 'streaming'"
            " GROUP BY m.id ORDER BY m.id DESC LIMIT 1"
        ).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def start_long_reply(tiny_folder: Path) -> tuple[TmuxApp, int]:
    app = TmuxApp(["--model", str(tiny_folder)], 100, 30, program=[str(WORKBENCH)])
    app.wait_for(lambda s: "ctx 0/" in s, timeout=180, what="the model to load")
    app.type("Tell me a very long story")
    app.keys("Enter")
    deadline = time.monotonic() + 180
    reply_id, saved = 0, 0
    while time.monotonic() < deadline and saved < LONG:
        reply_id, saved = streaming_reply()
        time.sleep(0.2)
    assert saved >= LONG, f"only {saved} tokens were saved while streaming"
    return app, reply_id


def app_pid(app: TmuxApp) -> int:
    return int(app.info("#{pane_pid}"))  # the pane runs the console script itself (exec)


@pytest.mark.parametrize("how", ["SIGTERM", "hangup"])
def test_a_long_reply_ended_from_outside_is_saved_as_stopped_with_its_tokens(tiny_folder, long_replies, how):
    app, reply_id = start_long_reply(tiny_folder)
    try:
        pid = app_pid(app)
        if how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        else:
            app.close()  # tmux kill-session: what an SSH drop does
        wait_gone([pid], 10)
    finally:
        app.close()
    with SessionStore() as store:
        message = store.get_message(reply_id)
        steps = store.token_steps(reply_id)
    assert message.status == "stopped" and not message.interrupted  # saved in order, not recovered
    assert message.stats["finish_reason"] == "cancelled"
    assert len(steps) >= LONG and message.stats["tokens"] == len(steps)
    assert message.content == "".join(step.text for step in steps)


def test_a_long_reply_killed_mid_stream_keeps_its_saved_prefix_marked_interrupted(tiny_folder, long_replies):
    app, reply_id = start_long_reply(tiny_folder)
    try:
        _, saved_before_kill = streaming_reply()
        pid = app_pid(app)
        os.kill(pid, signal.SIGKILL)
        wait_gone([pid], 10)
    finally:
        app.close()
    with SessionStore() as store:  # opening it recovers replies whose writer is gone
        message = store.get_message(reply_id)
        steps = store.token_steps(reply_id)
    assert message.status == "stopped" and message.interrupted
    assert len(steps) >= saved_before_kill >= LONG
    assert message.content.startswith("".join(step.text for step in steps[:LONG]))


SCRIPT = "\x1b]0;PWNED\x07 Hello done"  # OSC 0 would retitle the window


@pytest.fixture(scope="module")
def scripted_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scripted-model")
    scripted_model(SCRIPT).model.save_pretrained(folder)
    smol_tokenizer().save_pretrained(folder)
    return folder


def test_escape_sequences_in_model_output_never_reach_the_terminal(scripted_folder, workbench_home):
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[sampling]\ndo_sample = false\nmax_new_tokens = 40\n[model]\ndevice = "cpu"\n')
    app = TmuxApp(["--model", str(scripted_folder)], 100, 30, program=[str(WORKBENCH)])
    try:
        app.wait_for(lambda s: "ctx 0/" in s, timeout=180, what="the model to load")
        title_before = app.info("#{pane_title}")
        app.type("hi")
        app.keys("Enter")
        screen = app.wait_for(lambda s: "Hello done" in s and "tok/s" in s, timeout=120, what="the reply")
        assert "␛]0;PWNED␇ Hello done" in screen  # ESC and BEL shown as visible stand-ins
        assert "PWNED" not in app.info("#{pane_title}")
        assert app.info("#{pane_title}") == title_before
        assert "\x1b]" not in app.raw_screen()
    finally:
        app.close()
