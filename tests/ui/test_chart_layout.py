"""The candidates chart: laid out for 80 columns (every line fits, labels stay distinct, one
number format, a detail line), and reset when another session opens from F5."""

from __future__ import annotations

from rich.cells import cell_len

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.engine.steps import Candidate, TokenStep
from workbench.ui.app import WorkbenchApp
from workbench.ui.widgets.chart_layout import LEGEND_FIELDS, distinct_labels
from workbench.ui.widgets.conversation import ConversationView
from workbench.ui.widgets.token_render import format_probability

PREFIXED = (
    Candidate(901, "␣multiply", 0.453, 0.6),
    Candidate(902, "␣multiple", 0.0891, 0.4),
    Candidate(903, "␣multiplication", 0.0051, 0.0),
    Candidate(904, "␣multiply", 0.0009, 0.0, "bytes"),  # same text, another token
    Candidate(905, "x", 0.00004, 0.0),
)


def prefixed_step() -> TokenStep:
    return TokenStep(4, 901, "␣multiply", " multiply", 0.453, 0.6, 1, 1.7, PREFIXED, "sample")


def test_one_number_format_in_six_cells() -> None:
    shown = [format_probability(p) for p in (1.0, 0.453, 0.0891, 0.0051, 0.0005, 0.00004, 0.0)]
    assert shown == ["100.0%", " 45.3%", " 8.91%", " 0.51%", " 0.05%", "<0.01%", "    0%"]
    assert not any("e-" in format_probability(10.0**-k) for k in range(12))


def test_cut_labels_of_different_tokens_differ() -> None:
    items = [(c.token_id, c.text) for c in PREFIXED]
    for width in range(4, 16):
        labels = distinct_labels(items, width)
        assert all(cell_len(label) <= width for label in labels), (width, labels)
        assert len(set(labels)) == len(labels), (width, labels)


def chart_lines(app: WorkbenchApp) -> list[str]:
    """The chart as drawn: each content line and the width it has."""
    chart = app.chart
    text = chart.rendered_text(chart.content_size.width)
    return [line.plain for line in text.split("\n")]


async def check_chart_fits(size: tuple[int, int]) -> None:
    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False, save_settings=False)
    async with app.run_test(size=size) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "What is a token?")
        cases = [
            ("real", lambda: None),
            ("prefixed", lambda: app.chart.show_step(prefixed_step(), "Token 5/6 of the reply · complete")),
            (
                "paused",
                lambda: app.chart.show_candidates(
                    PREFIXED,
                    1.7,
                    None,
                    "Paused before token 5",
                    "1-9 pick · space sample · g top · t type · p play",
                ),
            ),
        ]
        for name, show in cases:
            show()
            await pilot.pause()
            width, height = app.chart.content_size.width, app.chart.content_size.height
            lines = chart_lines(app)
            assert all(cell_len(line) <= width for line in lines), (name, width, lines)
            assert len(lines) <= height, (name, height, lines)  # the legend is not pushed off the pane
            drawn = "\n".join(app.chart.render_line(y).text for y in range(height))
            for field in LEGEND_FIELDS:
                assert field in drawn, (name, field, drawn)
            caption_and_legend = lines[:2] + lines[-4:]
            assert not any("…" in line for line in caption_and_legend if "chosen" not in line), (name, lines)
            assert "p bar" in drawn  # the bar says what it is
            if name != "real":
                rows = [line for line in lines if line[:2].strip().isdigit()]
                labels = [line[3:].split("  ")[0].strip() for line in rows]
                assert len(rows) == len(PREFIXED) and len(set(labels)) == len(labels), (name, rows)
                detail = "\n".join(lines)
                assert "␣multiply" in detail and "id 901" in detail  # the full token and its id
            if name == "prefixed":
                assert "rank 1" in drawn and "sampled" in drawn and "q 60.0%" in drawn
            if name == "paused":
                assert "1-9 pick" in drawn and "p play" in drawn


async def test_the_chart_fits_80x24() -> None:
    await check_chart_fits((80, 24))


async def test_the_chart_fits_100x30() -> None:
    await check_chart_fits((100, 30))


async def test_opening_another_session_from_f5_resets_the_chart() -> None:
    from workbench.ui.screens.sessions import SessionsScreen

    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False, save_settings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "The first session talks about zebras")
        first_session = app.sync.session_id
        first_last = app.conversation.last("assistant").steps[-1]
        await pilot.press("ctrl+n")
        await send(app, pilot, "The second session talks about otters, at length")
        second_turn = app.conversation.last("assistant")
        app.conversation_view.focus()  # the token cursor on the reply, as a user reading it
        await pilot.press("left")
        await wait_until(pilot, lambda: app.chart.step is second_turn.steps[-2], what="cursor on the chart")
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        app.screen.query_one("#sessions-search").value = "zebras"
        await wait_until(pilot, lambda: "1 of 2" in str(app.screen.query_one("#sessions-count").render()))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.sync.session_id == first_session, what="session opened")
        await pilot.pause()
        opened_last = app.conversation.last("assistant").steps[-1]
        shown = app.chart.step
        assert shown is opened_last  # the opened session's last reply's last token
        assert (shown.index, shown.token_id) == (first_last.index, first_last.token_id)
        assert [c.token_id for c in app.chart.candidates] == [c.token_id for c in first_last.candidates]
        # a selection posted by a view of the session left behind must not bring its numbers back
        app.conversation_view.post_message(ConversationView.TokenSelected(second_turn, second_turn.steps[0]))
        await pilot.pause()
        await pilot.pause()
        assert app.chart.step is opened_last
