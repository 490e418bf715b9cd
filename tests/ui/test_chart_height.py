"""The chart's height while it streams: it grows at once but shrinks only after a pause.

A layout pass re-flows the whole screen; a chart whose line count wobbled by a line asked for
one nearly every token, the largest cause of UI stalls while a reply streamed (bench/ui.py).
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from tests.ui.helpers import LayoutPasses, wait_until
from workbench.engine.steps import Candidate, TokenStep
from workbench.ui.widgets.chart import CandidatesChart


def step(index: int, rows: int) -> TokenStep:
    candidates = tuple(Candidate(100 + n, f"tok{n}", 0.5 / (n + 1), 0.0) for n in range(rows))
    return TokenStep(index, 100, "tok0", "tok0", 0.5, 0.5, 1, 1.0, candidates, "sample")


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CandidatesChart(id="chart")


async def test_a_wobbling_line_count_asks_for_layout_only_when_growing() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CandidatesChart)
        chart.SHRINK_AFTER = 0.3
        chart.show_step(step(0, 5))
        await pilot.pause()
        tall = chart.outer_size.height
        layout = LayoutPasses(app.screen)
        await layout.settle(pilot)
        for n in range(1, 21):  # 4 candidates, 5, 4, 5, ...: the streaming wobble
            chart.show_step(step(n, 4 if n % 2 else 5))
            await pilot.pause()
        assert layout.count == 0, (
            f"{layout.count} whole-screen layout passes for 20 tokens of the same height or less"
        )
        assert chart.outer_size.height == tall
        # a shorter chart that stays shorter gives its rows back after the pause
        chart.show_step(step(21, 2))
        await wait_until(pilot, lambda: chart.outer_size.height < tall)
        assert chart.outer_size.height == tall - 3
        # a taller one takes them at once
        layout.count = 0
        chart.show_step(step(22, 5))
        await pilot.pause()
        assert chart.outer_size.height == tall
        assert layout.count >= 1


async def test_a_new_step_is_drawn_into_rows_before_the_frame_renders() -> None:
    """The chart's rows are built in the update's own callback, so a frame (the longest UI
    stalls while streaming: bench/ui.py) only composites them. On the old code the first
    ``render_line`` of each frame built every row."""
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CandidatesChart)
        chart.show_step(step(0, 5))
        await pilot.pause()
        built: list[int] = []
        original = chart._build_strips

        def counted(text, width):  # type: ignore[no-untyped-def]
            built.append(width)
            return original(text, width)

        chart._build_strips = counted  # type: ignore[method-assign]
        chart.show_step(step(1, 5))
        assert built == [chart.content_size.width]  # built by show_step itself
        first_row = chart._strips[0]
        await pilot.pause()  # a frame: render_line hands out the rows already built
        assert built == [chart.content_size.width]
        assert chart.render_line(0) is first_row
        assert "tok1" in "".join(chart.render_line(y).text for y in range(8))
