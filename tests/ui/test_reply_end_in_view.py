"""A reply's end stays in view: while it streams, when it ends (its plain text replaced by
Markdown) and when it is stopped; unless the user scrolled away, and then "↓ more" says so.

Textual parses Markdown on a thread and mounts the blocks afterwards; on a busy machine a layout
pass came first, with the reply one header high, and the view stayed scrolled up when the
blocks arrived (the reply's header and first line above the message box, the rest below).
``slow_markdown`` makes that order certain.
"""

from __future__ import annotations

import time

import pytest
from textual import events
from textual.widgets import Markdown

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, shown_text, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp
from workbench.ui.widgets.message_view import MessageView

SIZES = [(100, 30), (80, 24)]


@pytest.fixture
def wordy_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each token is a long word (a row every two or three) and takes 30 ms, never EOS: the
    tiny model's 512 positions hold a reply several windows long, still running as a test acts."""
    import torch

    from tests.models import smol_tokenizer
    from workbench.engine import sampling

    word = smol_tokenizer().encode(" NotImplementedError", add_special_tokens=False)[0]

    def choose(self, q):  # type: ignore[no-untyped-def]
        time.sleep(0.03)
        return torch.tensor(word)

    monkeypatch.setattr(sampling.Sampler, "choose", choose)


@pytest.fixture
def slow_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Markdown's parse (on a worker thread) takes 0.3 s, as a long reply's did on a busy machine."""
    from markdown_it import MarkdownIt

    parse = MarkdownIt.parse

    def slow(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(MarkdownIt, "parse", slow)


def _last_view(app: WorkbenchApp) -> MessageView:
    return app.conversation_view.query(MessageView).last()


def _end_in_view(app: WorkbenchApp) -> bool:
    """The last reply's last row of text lies inside the conversation's window (on screen)."""
    widget, rows = _last_view(app).end_row()
    bottom = widget.region.y + rows  # the screen row just below the reply's last row
    window = app.conversation_view.content_region
    return window.y < bottom <= window.bottom


def _markdown_shown(app: WorkbenchApp) -> bool:
    markdown = _last_view(app).query_one(".message-markdown", Markdown)
    return markdown.display and bool(markdown.children)


def _more_shown(app: WorkbenchApp) -> bool:
    more = app.conversation_view.query_one("#more-below")
    return more.display and more.region.height == 1


async def _start_long_reply(app: WorkbenchApp, pilot, rows_over: int) -> None:
    """Send a message and wait until the reply is ``rows_over`` rows taller than the window."""
    await start_with_model(app, pilot, tiny_loaded())
    app.chat_input.value = "Tell me a long story"
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.reply is not None, what="the reply to start")
    view = app.conversation_view
    await wait_until(
        pilot,
        lambda: _last_view(app).end_row()[1] > view.size.height + rows_over,
        what="a reply longer than the window",
    )


async def _back_at_the_end(app: WorkbenchApp, pilot) -> None:
    """The end is in view again and "↓ more" gone. Waited for, not asserted at once: tokens keep
    coming, and a row added since the last frame is counted before the frame that shows it."""
    await wait_until(
        pilot, lambda: _end_in_view(app) and not _more_shown(app), timeout=5, what="the end in view"
    )


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause(0.05)


@pytest.mark.parametrize("size", SIZES)
async def test_a_stopped_long_reply_ends_in_view_as_markdown(wordy_tokens, slow_markdown, size):
    app = WorkbenchApp(greedy_config(max_new_tokens=3000), autoload=False)
    async with app.run_test(size=size) as pilot:
        app.conversation_view.set_markdown(True)  # the Markdown view (m); plain is the default
        await _start_long_reply(app, pilot, 10)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="the reply to stop")
        await wait_until(pilot, lambda: _markdown_shown(app), what="the Markdown")
        await _settle(pilot)
        assert _end_in_view(app), (app.conversation_view.scroll_y, app.conversation_view.max_scroll_y)
        assert not _more_shown(app)


@pytest.mark.parametrize("size", SIZES)
async def test_a_finished_long_reply_ends_in_view_as_markdown(wordy_tokens, slow_markdown, size):
    app = WorkbenchApp(greedy_config(max_new_tokens=3 * size[1]), autoload=False)
    async with app.run_test(size=size) as pilot:
        app.conversation_view.set_markdown(True)  # the Markdown view (m); plain is the default
        await _start_long_reply(app, pilot, 2)
        await wait_until(pilot, lambda: not app.generating, what="the reply to finish")
        assert app.conversation.last("assistant").status == "complete"
        await wait_until(pilot, lambda: _markdown_shown(app), what="the Markdown")
        await _settle(pilot)
        assert _last_view(app).end_row()[1] > app.conversation_view.size.height + 8
        assert _end_in_view(app)


@pytest.mark.parametrize("size", SIZES)
async def test_a_finished_long_reply_ends_in_view_as_plain_text(wordy_tokens, size):
    """The default view: the finished reply is drawn token by token, at once."""
    app = WorkbenchApp(greedy_config(max_new_tokens=3 * size[1]), autoload=False)
    async with app.run_test(size=size) as pilot:
        await _start_long_reply(app, pilot, 2)
        await wait_until(pilot, lambda: not app.generating, what="the reply to finish")
        view, turn = _last_view(app), app.conversation.last("assistant")
        text = "".join(step.text for step in turn.steps)
        await wait_until(pilot, lambda: shown_text(view) == text, what="the finished text")
        await _settle(pilot)
        assert _last_view(app).end_row()[1] > app.conversation_view.size.height + 8
        assert _end_in_view(app)
        assert not _more_shown(app)


@pytest.mark.parametrize("size", SIZES)
async def test_scrolled_up_mid_reply_the_view_stays_and_more_shows(wordy_tokens, size):
    app = WorkbenchApp(greedy_config(max_new_tokens=3000), autoload=False)
    async with app.run_test(size=size) as pilot:
        await _start_long_reply(app, pilot, 6)
        view = app.conversation_view
        assert not _more_shown(app)
        # the mouse wheel over the conversation, as a user reads an earlier line
        for _ in range(3):
            await pilot._post_mouse_events([events.MouseScrollUp], view, offset=(5, 3))
        await _settle(pilot)
        where = view.scroll_y
        assert not _end_in_view(app)
        steps = len(app.reply.turn.steps)
        await wait_until(pilot, lambda: len(app.reply.turn.steps) > steps + 20, what="more tokens")
        await _settle(pilot)
        assert view.scroll_y == where  # the view stays where the user put it
        assert _more_shown(app)
        # clicking "↓ more" goes back to the end and follows it again
        await pilot.click("#more-below")
        await _settle(pilot)
        await _back_at_the_end(app, pilot)
        steps = len(app.reply.turn.steps)
        await wait_until(pilot, lambda: len(app.reply.turn.steps) > steps + 20, what="more tokens")
        await _back_at_the_end(app, pilot)
        # scrolled away again, End in the (empty) message box goes back too
        for _ in range(3):
            await pilot._post_mouse_events([events.MouseScrollUp], view, offset=(5, 3))
        await _settle(pilot)
        assert _more_shown(app)
        assert app.chat_input.has_focus
        await pilot.press("end")
        await _settle(pilot)
        await _back_at_the_end(app, pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="the reply to stop")
