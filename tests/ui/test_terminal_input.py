"""The terminal's input path (ui/terminal.py) and the multi-line message box (ChatInput), without tmux."""

from __future__ import annotations

import asyncio
import os
import signal

from textual import events
from textual.app import App, ComposeResult

from workbench.ui import terminal
from workbench.ui.panes.chat import ChatInput
from workbench.ui.terminal import PasteSplitter, clean_paste, install_shutdown_handlers


def test_a_paste_is_cut_out_whole_even_when_split_across_reads():
    splitter = PasteSplitter()
    stream = "ab\x1b[200~hello \x1b]\x11AAAA\rline\x1b[2J\x1b[201~cd"
    pieces: list[tuple[str, str]] = []
    for i in range(0, len(stream), 3):  # every marker split somewhere
        pieces += splitter.feed(stream[i : i + 3])
    pieces += splitter.idle()
    keys = "".join(text for kind, text in pieces if kind == "keys")
    pastes = [text for kind, text in pieces if kind == "paste"]
    assert keys == "abcd"
    assert pastes == ["hello \x1b]\x11AAAA\rline\x1b[2J"]


def test_a_lone_escape_is_released_when_nothing_follows():
    splitter = PasteSplitter()
    assert splitter.feed("\x1b") == []  # might be the start of a paste marker
    assert splitter.idle() == [("keys", "\x1b")]


def test_pasted_controls_are_made_inert_and_line_ends_kept():
    text = clean_paste("a\r\nb\rc\nd\te\x1b]52;c;x\x07\x00")
    assert text == "a\nb\nc\nd\te\u241b]52;c;x\u2407\u2400"
    assert "\x1b" not in text and "\r" not in text


class Box(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.edit_last_calls = 0

    def compose(self) -> ComposeResult:
        yield ChatInput(placeholder="Message", id="chat-input")

    def on_chat_input_submitted(self, event: ChatInput.Submitted) -> None:
        assert event.input is self.query_one(ChatInput)
        self.sent.append(event.value)

    def action_edit_last(self) -> None:
        self.edit_last_calls += 1


async def test_enter_sends_ctrl_j_adds_a_line_and_a_paste_keeps_every_line():
    app = Box()
    async with app.run_test(size=(60, 20)) as pilot:
        box = app.query_one(ChatInput)
        box.focus()
        await pilot.press("h", "i", "ctrl+j", "t", "h", "e", "r", "e")
        assert box.value == "hi\nthere"
        app.post_message(events.Paste("\none\ntwo\nthree"))
        await pilot.pause()
        assert box.value == "hi\nthere\none\ntwo\nthree"
        assert box.region.height > 3  # grew with its lines
        await pilot.press("enter")
        await pilot.pause()
        assert app.sent == ["hi\nthere\none\ntwo\nthree"]


async def test_value_placeholder_and_up_in_an_empty_box():
    app = Box()
    async with app.run_test(size=(60, 20)) as pilot:
        box = app.query_one(ChatInput)
        box.focus()
        box.placeholder = "Say something"
        box.cursor_blink = False
        await pilot.press("up")
        assert app.edit_last_calls == 1  # empty: edit the last message
        box.value = "first\nsecond"
        assert box.text == "first\nsecond" and box.cursor_location == (1, 6)
        await pilot.press("up")
        assert app.edit_last_calls == 1 and box.cursor_location[0] == 0  # not empty: a line up
        box.value = ""
        assert box.value == ""


async def test_a_signal_ends_the_app_through_end_session(monkeypatch):
    # The watchdog must not end pytest: a long grace, and cancelled once the app has ended (an
    # uncancelled 60 s watchdog once ended the whole test run, exit 143, a minute later).
    monkeypatch.setattr(terminal, "SHUTDOWN_GRACE_S", 60.0)
    calls: list[tuple[str, int]] = []

    class Ending(Box):
        async def end_session(self, reason: str, exit_code: int) -> None:
            calls.append((reason, exit_code))
            self.exit(return_code=exit_code)

    app = Ending()
    async with app.run_test() as pilot:
        install_shutdown_handlers(app)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.02)
        await pilot.pause()
    terminal.cancel_watchdog(app)
    watchdog = terminal._shutdown_state(app).watchdog
    assert watchdog is not None and watchdog.finished.is_set()  # cancelled: it will never fire
    assert calls == [("terminated (SIGTERM)", 143)]
    assert app.return_code == 143
