"""While a reply streams, the chart and the new text are drawn in separate frames.

Textual repaints, in a frame, every widget under the rectangle that spans all the regions
changed since the last one. The chart (top right) and the streaming text (left) span the whole
screen, so a frame with both in it repainted every widget: the longest UI stalls while a reply
streamed (40-55 ms on a busy 2-core machine, bench/ui.py). The chart now takes the newest token
in the frame after the text's.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual._compositor import Compositor
from textual.geometry import Region

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model
from workbench.ui.app import WorkbenchApp


@pytest.mark.usefixtures("slow_endless_tokens")
async def test_the_chart_and_the_streaming_text_never_share_a_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    app = WorkbenchApp(greedy_config(max_new_tokens=80, top_k_shown=10), autoload=False, save_settings=False)
    # per partial frame while streaming, after the first two drains (the chart taking its full
    # height and the conversation its scrollbar re-lay out the screen): (chart in it, text in it)
    frames: list[tuple[bool, bool]] = []
    original = Compositor.render_partial_update

    def recorded(compositor: Compositor) -> Any:
        if app.reply is not None and len(app.reply.turn.steps) > 10 and compositor is app.screen._compositor:
            dirty: list[Region] = list(compositor._dirty_regions)
            chart, text = app.chart.region, app.conversation_view.region
            frames.append((any(r.overlaps(chart) for r in dirty), any(r.overlaps(text) for r in dirty)))
        return original(compositor)

    monkeypatch.setattr(Compositor, "render_partial_update", recorded)
    # per drain that brought tokens: did it change the chart? (the timer's callback is bound at
    # mount, so the instance attribute set here is what it calls)
    drains: list[bool] = []
    drain = app._drain_tokens

    def recorded_drain() -> None:
        reply, version = app.reply, app.chart.version
        before = len(reply.turn.steps) if reply is not None else 0
        drain()
        if reply is not None and len(reply.turn.steps) > before:
            drains.append(app.chart.version != version)

    app._drain_tokens = recorded_drain  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "Tell me a story.")
        shared = sum(1 for chart, text in frames if chart and text)
        chart_frames = sum(1 for chart, _ in frames if chart)
        text_frames = sum(1 for _, text in frames if text)
        # the reply took 80 x 10 ms or more: drains of new tokens (8 a second), each with a chart update
        assert chart_frames >= 3 and text_frames >= 3, frames
        # The drain that puts the new text on screen never touches the chart: the chart's
        # update comes in a callback of its own after that frame (on the old code each drain
        # updated both). This part does not depend on timing.
        assert len(drains) >= 3 and not any(drains), drains
        # Only an event loop held up for most of a drain period (125 ms) between the two frames
        # lets the next drain's text join the chart's frame: 0 of 11 idle, up to 3 of 36 beside
        # two busy loops; on the old code every frame did.
        assert shared * 2 <= text_frames, (
            f"{shared} of {len(frames)} frames repainted the chart and the text together"
        )
        reply = next(t for t in app.conversation.turns.values() if t.role == "assistant")
        n = len(reply.steps)
        assert app.chart._caption.startswith(f"Token {n}/{n} of the reply")  # the end is shown
