"""The logit lens under Pilot: l on a reply's token opens a grid whose top row is the p the chat
showed for that token, computed off the UI thread; [ ] move along the text; Esc closes it."""

from __future__ import annotations

import threading

import pytest
import torch
from textual.widgets import DataTable, Static

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.engine import runner
from workbench.ui.app import WorkbenchApp
from workbench.ui.screens.lens import LensScreen


def grid_rows(screen: LensScreen) -> list[list[str]]:
    table = screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


async def test_l_on_a_reply_token_shows_every_layer_and_the_top_row_is_the_chats_p():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny)
        # Nothing under the cursor yet: a word, no screen.
        app.action_logit_lens()
        await pilot.pause()
        assert not isinstance(app.screen, LensScreen)

        await send(app, pilot, "Hello there")
        reply = app.conversation.last("assistant")
        assert reply is not None and len(reply.steps) >= 3
        await pilot.press("tab")
        await wait_until(pilot, lambda: app.conversation_view.has_focus, what="token cursor")
        await pilot.press("home", "right")  # the reply's second token
        step = reply.steps[1]
        # The engine thread is busy (as while a reply streams): the screen opens and waits.
        gate = threading.Event()
        runner.submit(gate.wait, 30)
        try:
            await pilot.press("l")
            await wait_until(pilot, lambda: isinstance(app.screen, LensScreen), what="lens screen")
            screen = app.screen
            assert isinstance(screen, LensScreen)
            await pilot.pause()
            assert screen.result is None
            assert "Computing" in str(screen.query_one("#lens-note", Static).render())
        finally:
            gate.set()
        await wait_until(pilot, lambda: screen.result is not None, what="the lens")
        result = screen.result
        assert result is not None

        # The lens is of that token: predicted from the prompt and the reply's first token.
        assert result.chosen_id == step.token_id and result.ids[result.target] == step.token_id
        assert "token 2/" in str(screen.query_one("#lens-title", Static).render())
        last = result.layers[-1]
        assert last.chosen_p == pytest.approx(step.p, abs=1e-5)
        assert [c.token_id for c in last.candidates[:5]] == [c.token_id for c in step.candidates[:5]]
        assert [c.p for c in last.candidates[:5]] == pytest.approx(
            [c.p for c in step.candidates[:5]], abs=1e-5
        )
        # A middle layer by hand: its hidden state through the final norm and lm_head.
        ids = list(result.ids[: result.target])
        with torch.no_grad():
            hidden = tiny.model(torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0, -1]
            hand = torch.softmax(tiny.model.lm_head(tiny.model.model.norm(hidden)), -1)
        assert result.layers[1].chosen_p == pytest.approx(hand[step.token_id].item(), rel=1e-4, abs=1e-9)

        # The grid: the output on top, the embeddings at the bottom, cells "token p".
        rows = grid_rows(screen)
        assert len(rows) == 3 and rows[0][0].strip() == "out" and rows[-1][0].strip() == "emb"
        assert rows[0][2].split()[0] == last.candidates[0].token[:9].rstrip()
        assert rows[0][1].split()[0].rstrip("%") == f"{last.chosen_p * 100:.1f}"

        # ] moves to the next token of the reply: one cached pass, a new lens.
        await pilot.press("right_square_bracket")
        await wait_until(
            pilot, lambda: screen.result is not None and screen.result.target == result.target + 1
        )
        assert screen.result is not None and screen.result.chosen_id == reply.steps[2].token_id
        # [ walks back past the reply's first token into its prompt.
        await pilot.press(*["left_square_bracket"] * 3)
        await wait_until(
            pilot, lambda: screen.result is not None and screen.result.target == result.target - 2
        )
        assert screen.result is not None and screen.result.chosen_id == result.ids[result.target - 2]
        assert "prompt token" in str(screen.query_one("#lens-title", Static).render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, LensScreen), what="closed")
        assert app.conversation_view.has_focus


def test_the_lens_and_score_keys_are_in_the_guide_and_the_key_bar():
    import re

    from textual.binding import Binding

    from workbench.ui.keys import HINTS, key_name
    from workbench.ui.panes.score import ScoredText, ScorePane
    from workbench.ui.screens.help import guide_text
    from workbench.ui.widgets.conversation import ConversationView

    text = guide_text(100)
    named = set(re.findall(r"\S+", text))
    for owner in (LensScreen, ScorePane, ScoredText):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            assert any(key_name(k) in named for k in binding.key.split(",")), (owner.__name__, binding.key)
    assert any(
        b.key == "l" and b.action == "app.logit_lens"
        for b in ConversationView.BINDINGS
        if isinstance(b, Binding)
    )
    assert re.search(r"^\s*l\s{2,}logit lens of this token", text, re.M)
    assert "F11" in named and "Score (F11)" in text
    assert ("l", "lens") in HINTS["conversation"] and ("l", "lens") in HINTS["score"]
