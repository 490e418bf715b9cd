"""While a reply streams, the conversation keeps its newest line on screen.

The streaming widget reserves a screen's height of blank rows below its text (a layout pass per
few lines stalled the UI: bench/ui.py), so "scroll to the end" would show blank rows and leave
the newest text above the window for most of each reserve. The view follows the last row of
text instead: checked on the composed frame after every few tokens, across several reserves.
"""

from __future__ import annotations

import threading

import pytest
import torch

from tests.models import smol_tokenizer, tiny_loaded
from tests.ui.helpers import greedy_config, start_with_model, wait_until
from tests.ui.test_plain_text_view import ConversationApp, reply, show_reply, steps
from workbench.conversation import Turn
from workbench.ui.app import WorkbenchApp
from workbench.ui.widgets.message_view import MessageView
from workbench.ui.widgets.streaming_text import StreamingText

HOLD_EVERY = 2  # tokens between two checks


class TokenGate:
    """The engine chooses a long word token every time (a row every two or three tokens, so
    the test needs few tokens) and holds still after every HOLD_EVERY tokens until released."""

    def __init__(self) -> None:
        self.word = smol_tokenizer().encode(" NotImplementedError", add_special_tokens=False)[0]
        self.produced = 0
        self.held = threading.Event()
        self.release = threading.Event()

    def choose(self, q):  # type: ignore[no-untyped-def]
        if self.produced and self.produced % HOLD_EVERY == 0 and not self.release.is_set():
            self.held.set()
            self.release.wait(60)
        self.release.clear()
        self.held.clear()
        self.produced += 1
        return torch.tensor(self.word)

    def go_on(self) -> None:
        self.release.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> TokenGate:
    from workbench.engine import sampling

    gate = TokenGate()
    monkeypatch.setattr(sampling.Sampler, "choose", lambda _self, q: gate.choose(q))
    return gate


def _screen_lines(app: WorkbenchApp) -> list[str]:
    """What the compositor draws, line by line (the real frame, not a widget's own idea of it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_the_newest_line_of_a_streaming_reply_stays_on_screen(gate):
    app = WorkbenchApp(greedy_config(max_new_tokens=2000), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        app.chat_input.value = "Tell me a long story"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reply is not None, what="the reply to start")
        view, reply = app.conversation_view, app.reply
        stream = view.query(StreamingText).last()
        checked = 0
        blank_window = False  # a moment when a window's worth of blank rows lay below the text
        # Past the first window and through two of the widget's reserves of blank rows.
        while stream.text_rows <= view.size.height + 2 * app.size.height:
            await wait_until(pilot, gate.held.is_set, what="the engine to hold")
            await wait_until(pilot, lambda: len(reply.turn.steps) == gate.produced, what="every token shown")
            await pilot.pause()
            rows = stream.text_rows
            if rows > view.size.height:
                blank_window = blank_window or stream.outer_size.height - rows >= view.size.height
                last_row_y = stream.region.y + rows - 1  # screen coordinates of the newest line
                window = view.content_region
                assert window.y <= last_row_y < window.bottom, (rows, last_row_y, window, view.scroll_y)
                newest = stream.render_line(rows - 1).text.strip()
                assert newest and newest in _screen_lines(app)[last_row_y]
                checked += 1
            gate.go_on()
        assert checked >= 20
        assert blank_window, "the case this test guards did not occur: no window of blank rows"
        app.action_stop()
        gate.go_on()
        await wait_until(pilot, lambda: not app.generating, what="the reply to stop")


def add_row(turn: Turn, view: MessageView, n: int) -> None:
    """One more row of text in a streaming reply, as the app's drain appends a token."""
    new = steps([f"\n{n}"], n)
    turn.steps.extend(new)
    view.append_steps(new)


async def test_following_scrolls_in_jumps_not_once_per_line():
    """Each scroll repaints the whole conversation (20-50 ms: bench/ui.py), so following moves
    a quarter of the window past the newest line (Vim's 'scrolljump'). The old code scrolled
    every time the text gained a row. One row is added at a time, as the app drains tokens."""
    user = Turn(1, "user", "Count", None)
    turn = reply(2, ["0"], 1, status="streaming")
    async with ConversationApp().run_test(size=(80, 24)) as pilot:
        conversation, view = await show_reply(pilot, user, turn)
        window = conversation.scrollable_content_region.height
        jump = window // 4
        assert jump >= 2, "too short a window to tell jumps from single lines"
        positions = [round(conversation.scroll_y)]
        rows_past_window = 0
        for n in range(1, 3 * window):
            add_row(turn, view, n)
            conversation.follow(*view.end_row())
            await pilot.pause()
            stream, rows = view.end_row()
            last_row_y = stream.region.y + rows - 1
            assert conversation.content_region.y <= last_row_y < conversation.content_region.bottom
            top = stream.region.y - conversation.content_region.y + round(conversation.scroll_y)
            rows_past_window += top + rows > window  # (rows that needed the view to move)
            if round(conversation.scroll_y) != positions[-1]:
                positions.append(round(conversation.scroll_y))
        scrolls = len(positions) - 1
        assert rows_past_window >= window
        assert scrolls <= rows_past_window // jump + 1, f"{scrolls} scrolls for {rows_past_window} rows"


async def test_a_small_scroll_up_after_a_jump_stops_following():
    """After a jump the end sits a few rows above the window's bottom; a user who scrolls up a
    row (the end still in view) reads on undisturbed: the next row does not scroll them back."""
    user = Turn(1, "user", "Count", None)
    turn = reply(2, ["0"], 1, status="streaming")
    async with ConversationApp().run_test(size=(80, 24)) as pilot:
        conversation, view = await show_reply(pilot, user, turn)

        async def add_row_and_follow(n: int) -> None:
            add_row(turn, view, n)
            if conversation.following:
                conversation.follow(*view.end_row())
            await pilot.pause()

        n = 1
        while conversation.scroll_y == 0:  # until the first jump
            await add_row_and_follow(n)
            n += 1
        assert conversation.following
        conversation.scroll_to(y=conversation.scroll_y - 1, animate=False)
        await pilot.pause()
        stream, rows = view.end_row()
        assert stream.region.y + rows <= conversation.content_region.bottom  # the end is in view
        assert not conversation.following
        where = conversation.scroll_y
        for _ in range(conversation.scrollable_content_region.height):
            await add_row_and_follow(n)
            n += 1
        assert conversation.scroll_y == where
