"""The real `workbench` in a real terminal (tmux), driven with keys and read off the screen."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from tests.e2e.tmux import WORKBENCH, TmuxApp, read_marker
from workbench import paths
from workbench.sessions.store import SessionStore

pytestmark = pytest.mark.slow

if shutil.which("tmux") is None:  # `make test` installs tmux; this only guards a hand-run pytest
    pytest.skip("tmux is not installed (make test installs it)", allow_module_level=True)


@pytest.fixture
def greedy_config_file(workbench_home):
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[sampling]\ndo_sample = false\nmax_new_tokens = 120\n[model]\ndevice = "cpu"\n')
    return config


def loaded(screen: str) -> bool:
    return "ctx 0/8192" in screen or "ctx " in screen and "RAM" in screen


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_chat_stop_tokens_and_tabs_in_a_real_terminal(greedy_config_file, tmp_path, size):
    marker = tmp_path / "first-frame.json"
    app = TmuxApp([], *size, env={"WORKBENCH_FIRST_FRAME_FILE": str(marker)})
    try:
        frame = read_marker(marker)
        assert frame["torch_imported"] is False  # the first frame came before torch
        app.wait_for(loaded, timeout=120, what="the model to load")
        app.type("What is the capital of France?")
        app.keys("Enter")
        screen = app.wait_for(lambda s: "Paris" in s and "tok/s" in s, timeout=120, what="the answer")
        assert "Top-k candidates" in screen and "entropy" in screen
        # Tab to the conversation, Left: the token cursor moves and the chart follows it (the
        # chart already says "Token N/N of the reply" for the last token before any key)
        screen = app.wait_for(lambda s: re.search(r"Token (\d+)/\1\b", s), timeout=20, what="Token N/N")
        last = re.search(r"Token (\d+)/(\d+)", screen)
        assert last and last.group(1) == last.group(2)
        total = int(last.group(2))
        app.keys("Tab")
        # Textual hands a key to the widget focused when the key is read: a Left read before the
        # message box has handled Tab goes to the box, so wait for the conversation's key bar
        app.wait_for("[ ] branches", timeout=20, what="the conversation to take focus")
        app.keys("Left")
        app.wait_for(f"Token {total - 1}/{total}", timeout=20, what="the cursor one token back")
        # the tokenizer inspector: the ids of "good morning"
        app.keys("F3")
        app.wait_for("Chat prompt", timeout=20)
        time.sleep(0.5)
        app.type("good morning")
        app.wait_for(lambda s: "12018" in s and "5738" in s, timeout=20, what="token ids")
        # Escape mid-answer stops it
        app.keys("F2")
        app.wait_for("Top-k candidates", timeout=20)
        time.sleep(0.5)  # let the tab switch hand focus to the message box
        app.type("Write a very long essay about the history of bread.")
        app.wait_for(lambda s: "history" in s and "of bread." in s, timeout=20, what="the typed message")
        app.keys("Enter")
        app.wait_for("generating", timeout=30)
        app.keys("Escape")
        app.wait_for("stopped", timeout=30, what="the stopped marker")
        app.keys("C-q")
        app.wait_for(lambda s: app.dead(), timeout=20, what="the app to quit")
    finally:
        app.close()


def test_resume_last_in_a_real_terminal(greedy_config_file):
    app = TmuxApp([], 100, 30)
    try:
        app.wait_for(loaded, timeout=120, what="the model to load")
        app.type("Say the word lighthouse.")
        app.keys("Enter")
        app.wait_for(
            lambda s: "tok/s" in s and "Model" in s and "generating" not in s, timeout=120, what="the reply"
        )
        app.keys("C-q")
        app.wait_for(lambda s: app.dead(), timeout=20)
    finally:
        app.close()
    with SessionStore() as store:
        reply = store.messages(store.latest_session_id())[-1]
    assert reply.role == "assistant" and reply.status == "complete"
    words = reply.content.split()[:4]  # the reply's own words, not the user's
    assert words and " ".join(words) not in "Say the word lighthouse."
    resumed = TmuxApp(["--resume", "last"], 100, 30)
    try:
        screen = resumed.wait_for(
            lambda s: " ".join(words) in " ".join(s.replace("█", " ").split()),
            timeout=60,
            what="the assistant's reply",
        )
        assert "Say the word lighthouse." in screen
    finally:
        resumed.close()
    listing = subprocess.run([str(WORKBENCH), "sessions", "list"], capture_output=True, text=True, timeout=60)
    assert "lighthouse" in listing.stdout


def test_no_escape_sequence_from_the_model_reaches_the_terminal(greedy_config_file):
    """The user's own input (and so the prompt the model sees) is full of escapes; nothing leaks."""
    app = TmuxApp([], 100, 30)
    try:
        app.wait_for(loaded, timeout=120)
        app.type("[bold]hi[/] \x1b]0;PWNED\x07 \x1b[2J [link=x]y")
        app.keys("Enter")
        screen = app.wait_for(lambda s: "tok/s" in s and "Model" in s, timeout=120)
        assert "[bold]hi[/]" in screen and "[link=x]y" in screen
        title = subprocess.run(
            ["tmux", "display-message", "-p", "-t", app.name, "#{pane_title}"], capture_output=True, text=True
        ).stdout
        assert "PWNED" not in title
    finally:
        app.close()


def test_keys_typed_while_the_app_starts_reach_the_message_box(greedy_config_file):
    """Typed at once, before the first frame: the terminal hands the keys over when the app
    enters raw mode, before anything has the focus; they used to be dropped."""
    app = TmuxApp([])
    try:
        app.type("typed at once")
        app.wait_for(
            lambda s: "typed at once" in s and "Enter send" in s,  # the key bar: the app's own screen
            timeout=60,
            what="the early keys in the message box",
        )
    finally:
        app.close()
