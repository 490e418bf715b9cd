"""The app (Pilot) on three families of the model zoo: Gemma 3 (sliding-window and full
layers), GPT-2 (absolute positions) and Qwen2-MoE (mixture of experts).

A reply streams with candidates on the chart; regenerating it, which branches back to the
prompt in the decoder the app keeps across replies, after the reply has passed the sliding
window, gives the same greedy reply with the same probabilities; a second message continues.
"""

from __future__ import annotations

import pytest

from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from tests.zoo import WINDOW, zoo_loaded
from workbench.ui.app import WorkbenchApp


@pytest.mark.parametrize("family", ["gemma3", "gpt2", "qwen2_moe"])
async def test_chat_and_regenerate_on_a_zoo_model(family):
    loaded = zoo_loaded(family)
    app = WorkbenchApp(greedy_config(max_new_tokens=2 * WINDOW), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, loaded)
        await send(app, pilot, "Hello there")
        first = app.conversation.last("assistant")
        assert first.status == "complete", first.stats
        assert len(first.steps) == 2 * WINDOW and first.content
        assert f"tiny-random-{family}" in app.status.text
        assert app.chart.candidates == first.steps[-1].candidates and len(app.chart.candidates) == 10
        assert first.steps[-1].candidates[0].p > 0.1

        await pilot.press("ctrl+r")  # the same prompt again: the kept decoder goes back to it
        await wait_until(
            pilot,
            lambda: not app.generating and app.conversation.last("assistant") is not first,
            what="the regenerated reply",
        )
        second = app.conversation.last("assistant")
        assert second.status == "complete", second.stats
        assert [s.token_id for s in second.steps] == [s.token_id for s in first.steps]
        for a, b in zip(first.steps, second.steps, strict=True):
            assert b.p == pytest.approx(a.p, abs=1e-5)

        await send(app, pilot, "And then?")  # the conversation goes on from the kept prefix
        third = app.conversation.last("assistant")
        assert third.status == "complete" and third.steps
        assert app.chart.candidates == third.steps[-1].candidates
