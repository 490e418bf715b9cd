"""Shared helpers for Pilot tests of the whole app."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.screen import Screen

from workbench.config import Config, UiSettings
from workbench.engine.settings import LoadSettings, SamplingSettings


async def wait_until(
    pilot: Pilot, predicate: Callable[[], bool], timeout: float = 30.0, what: str = ""
) -> None:
    """Poll instead of sleeping: returns as soon as ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class LayoutPasses:
    """Counts ``screen``'s whole-screen layout passes from now on (in ``count``; may be reset)."""

    def __init__(self, screen: Screen) -> None:
        self.count = 0
        original = screen._refresh_layout

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            return original(*args, **kwargs)

        screen._refresh_layout = counted  # type: ignore[method-assign]
        self._screen = screen

    async def settle(self, pilot: Pilot, quiet_pauses: int = 3, most: int = 100) -> None:
        """Wait out the layout passes already under way, then count from zero.

        One ``pilot.pause()`` is not enough on a loaded machine: it waits for the CPU to look
        idle, which a busy neighbour defeats, so a mount's style updates and scrollbars can
        still be settling after it. Settled means ``quiet_pauses`` pauses in a row without a
        pass and without one pending."""
        quiet = 0
        for _ in range(most):
            before = self.count
            await pilot.pause()
            if self.count == before and not self._screen._layout_required:
                quiet += 1
                if quiet == quiet_pauses:
                    self.count = 0
                    return
            else:
                quiet = 0
        raise AssertionError(f"the layout never settled: {self.count} passes in {most} pauses")


def greedy_config(max_new_tokens: int = 12, **ui: object) -> Config:
    return Config(
        model=LoadSettings(model="tiny"),
        sampling=SamplingSettings(do_sample=False, max_new_tokens=max_new_tokens),
        ui=UiSettings(**ui),  # type: ignore[arg-type]
    )


async def start_with_model(app, pilot: Pilot, loaded) -> None:
    """Hand the app an already-loaded model, as the load worker would."""
    from workbench.ui.messages import ModelLoaded

    app.post_message(ModelLoaded(loaded))
    await wait_until(pilot, lambda: app.loaded is loaded, what="model loaded")


async def send(app, pilot: Pilot, text: str, timeout: float = 60) -> None:
    """Type a message, press Enter and wait for the reply to end."""
    replies_before = sum(1 for t in app.conversation.turns.values() if t.role == "assistant")
    app.action_show_tab("chat")
    await pilot.pause()
    chat_input = app.query_one("#chat-input")
    chat_input.focus()
    chat_input.value = text
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: (
            not app.generating
            and sum(1 for t in app.conversation.turns.values() if t.role == "assistant") > replies_before
        ),
        timeout,
        "reply",
    )


def shown_text(view) -> str:
    """The text a MessageView shows now (whichever of its widgets is on screen; not Markdown)."""
    from textual.widgets import Markdown, Static

    from workbench.ui.widgets.streaming_text import StreamingText

    stream = view.query_one(".message-stream", StreamingText)
    body = view.query_one(".message-body", Static)
    markdown = view.query_one(".message-markdown", Markdown)
    assert not markdown.display, "shown as Markdown"
    if stream.display:
        return stream.text
    assert body.display
    return str(body.render())


async def paused(app, pilot, count: int) -> None:
    """Wait until the reply has ``count`` tokens and the next one is waiting for a decision."""
    await wait_until(
        pilot,
        lambda: (
            app._chooser is not None
            and app._chooser.waiting is not None
            and app.reply is not None
            and len(app.reply.turn.steps) == count
            and not app.reply.pending
        ),
        what=f"pause after {count} tokens",
    )
