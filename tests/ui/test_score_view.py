"""The Score tab under Pilot: each token's p equals a direct softmax gathered at the next ids,
coloured by the heat map; hostile text stays text; long texts go window by window with a
progress bar; Esc stops; l opens the lens of the token under the cursor."""

from __future__ import annotations

import threading

import pytest
import torch
from textual.widgets import OptionList, ProgressBar, Static

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, start_with_model, wait_until
from workbench.engine import runner
from workbench.ui.app import WorkbenchApp
from workbench.ui.panes.score import ScoredText, ScorePane
from workbench.ui.screens.lens import LensScreen
from workbench.ui.widgets.heat_legend import heat_palette

HOSTILE = "The capital of France is Paris [bold]x[/] [link=x]y \x1b[2J \x1b]52;c;SGk=\x07 end."


def status_of(app: WorkbenchApp) -> str:
    return str(app.query_one("#score-status", Static).render())


async def score(pilot, text: str) -> ScorePane:
    app = pilot.app
    pane = app.query_one(ScorePane)
    before = pane.last
    area = app.query_one("#score-text")
    area.text = text
    area.focus()
    await pilot.press("ctrl+l")
    await wait_until(
        pilot,
        lambda: (
            not pane.busy and (pane.last is not before or "-error" in app.query_one("#score-status").classes)
        ),
    )
    return pane


async def test_the_tab_scores_a_text_like_a_direct_softmax_and_opens_the_lens():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f11")
        await wait_until(pilot, lambda: app.tabs.active == "score", what="score tab")
        await wait_until(pilot, lambda: app.focused is app.query_one("#score-text"), what="text focused")
        pane = await score(pilot, HOSTILE)
        assert pane.last is None and "No model is loaded" in status_of(app)

        await start_with_model(app, pilot, tiny)
        pane = await score(pilot, HOSTILE)
        result = pane.last
        assert result is not None, status_of(app)
        ids = tiny.tokenizer.encode(HOSTILE)
        with torch.no_grad():
            p = torch.softmax(tiny.model(torch.tensor([ids])).logits[0], -1)
        assert [t.token_id for t in result.tokens] == ids
        assert [t.p for t in result.scored] == pytest.approx(
            [p[i - 1, ids[i]].item() for i in range(1, len(ids))], rel=1e-5
        )
        assert f"perplexity {result.perplexity:.3f}" in status_of(app)

        # The text as written (markup and escapes inert), each token in its heat colour.
        view = app.query_one(ScoredText)
        shown = view.render()
        assert "[bold]x[/] [link=x]y" in shown.plain and "\x1b" not in shown.plain
        palette = heat_palette(view)
        token = result.scored[2]
        start = sum(len(t.text) for t in result.tokens[: token.index])
        styles = [span.style for span in shown.spans if span.start == start]
        assert any(getattr(s, "bgcolor", None) == palette.style(token.p or 0).bgcolor for s in styles)
        # The most surprising tokens, lowest p first; choosing one puts the cursor on it.
        worst = app.query_one("#score-worst", OptionList)
        first = result.most_surprising(1)[0]
        assert worst.get_option_at_index(1).id == str(first.index)
        assert view.has_focus and view.cursor == first.index  # focus moved to the tokens
        detail = str(app.query_one("#score-detail", Static).render())
        assert f"rank {first.rank}" in detail and f"{first.bits:.2f} bits" in detail

        # l: the lens of the token under the cursor; its last layer is that token's p.
        await pilot.press("home", "right", "right")
        assert view.cursor == 2
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LensScreen), what="lens")
        lens = app.screen
        assert isinstance(lens, LensScreen)
        await wait_until(pilot, lambda: lens.result is not None, what="the lens")
        assert lens.result is not None and lens.result.chosen_id == ids[2]
        assert lens.result.layers[-1].chosen_p == pytest.approx(result.tokens[2].p, rel=1e-5)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, LensScreen), what="closed")


async def test_a_long_text_goes_window_by_window_and_esc_stops_it():
    tiny = tiny_loaded()  # a context of 512 tokens: the window
    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    text = " ".join(f"Sentence {n} tells of the capital of France." for n in range(120))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny)
        await pilot.press("f11")
        await wait_until(pilot, lambda: app.tabs.active == "score", what="score tab")
        pane = await score(pilot, text)
        result = pane.last
        assert result is not None and result.windows >= 3 and result.window == 512
        assert len(result.scored) == len(result.tokens) - 1
        bar = app.query_one("#score-progress", ProgressBar)
        assert bar.total == len(result.scored) and bar.progress == bar.total
        assert "-busy" not in bar.classes  # hidden once done

        # Esc while a score waits for the engine thread: it stops before its first window.
        gate = threading.Event()
        runner.submit(gate.wait, 30)
        try:
            area = app.query_one("#score-text")
            area.text = text + " More."
            area.focus()
            await pilot.press("ctrl+l")
            await wait_until(pilot, lambda: pane.busy, what="busy")
            assert "-busy" in bar.classes
            await pilot.press("escape")
        finally:
            gate.set()
        await wait_until(pilot, lambda: not pane.busy, what="stopped")
        assert "stopped" in status_of(app) and pane.last is result


async def test_score_this_chat_gives_each_reply_token_the_p_the_chat_showed():
    from tests.ui.helpers import send

    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "Hello there")
        reply = app.conversation.last("assistant")
        assert reply is not None and reply.steps
        pane = app.query_one(ScorePane)
        app.action_score_chat()  # (the palette's "Score this chat")
        await wait_until(
            pilot, lambda: app.tabs.active == "score" and pane.last is not None and not pane.busy
        )
        result = pane.last
        assert result is not None
        n = len(reply.steps)
        assert [t.token_id for t in result.tokens[-n:]] == [s.token_id for s in reply.steps]
        assert len(result.tokens) > n  # the chat-templated prompt, scored too
        assert [t.p for t in result.tokens[-n:]] == pytest.approx([s.p for s in reply.steps], abs=1e-5)
        assert [t.rank for t in result.tokens[-n:]] == [s.rank for s in reply.steps]
