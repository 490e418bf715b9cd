"""The chart names where its numbers come from and leaves out what a server does not give."""

from __future__ import annotations

from tests.ui.test_chart_height import ChartApp
from tests.unit.test_not_given_values import server_step
from workbench.ui.widgets.chart import CandidatesChart


async def test_a_server_step_is_drawn_without_invented_numbers() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CandidatesChart)
        chart.set_source("p (server, raw) · k ≤ 20")
        chart.show_step(server_step(0, with_ids=False))
        await pilot.pause()
        text = chart.rendered_text(chart.content_size.width).plain
        assert "entropy not given" in text and "nan" not in text.lower()
        assert "no id" in text and "id -1" not in text
        assert chart.border_title == "Top-k candidates · p (server, raw) · k ≤ 20"
        chart.set_source(None)
        assert chart.border_title == "Top-k candidates"
