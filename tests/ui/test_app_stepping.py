"""Step mode, picking candidates, token-level branches and completion mode, in the app."""

from __future__ import annotations

import pytest

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, paused, send, start_with_model, wait_until
from workbench.config import Config, UiSettings
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.ui.app import WorkbenchApp


def sampling_config(max_new_tokens: int = 12) -> Config:
    return Config(
        LoadSettings(model="tiny"),
        SamplingSettings(
            temperature=1.0, top_k=20, top_p=1.0, min_p=0.0, seed=11, max_new_tokens=max_new_tokens
        ),
        UiSettings(),
    )


async def test_step_mode_steps_picks_and_reweights_without_a_forward_pass():
    app = WorkbenchApp(sampling_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        assert app.step_mode
        app.query_one("#chat-input").value = "Step through this"
        await pilot.press("enter")
        await paused(app, pilot, 0)
        assert app.chart.has_focus
        await pilot.pause()
        assert app.chart.size.height >= len(app.chart.candidates) + 4  # every candidate row is drawn
        assert "Paused before token 1" in app.chart.rendered_text().plain
        for n in range(1, 6):  # step five tokens with space
            await pilot.press("space")
            await paused(app, pilot, n)
        reply = app.reply.turn
        assert [s.chosen_by for s in reply.steps] == ["sample"] * 5
        # change the temperature while paused: q is redrawn from the same logits
        waiting = app._chooser.waiting
        passes = app.decoders.decoder.forward_passes
        before = [c.q for c in app.chart.candidates]
        app.query_one("#set-temperature").value = "2.5"
        await wait_until(pilot, lambda: [c.q for c in app.chart.candidates] != before, what="q redrawn")
        assert app.decoders.decoder.forward_passes == passes
        assert [c.p for c in app.chart.candidates] == [c.p for c in waiting.candidates]
        hotter = app._chooser.waiting
        fresh = waiting.reweighted(SamplingSettings(temperature=2.5, top_k=20, top_p=1.0, min_p=0.0))
        assert [c.q for c in hotter.candidates] == [c.q for c in fresh.candidates]
        # pick candidate 3
        third = hotter.candidates[2]
        await pilot.press("3")
        await paused(app, pilot, 6)
        picked = reply.steps[5]
        assert picked.token_id == third.token_id and picked.chosen_by == "user"
        assert picked.q == third.q  # recorded with the settings it was chosen under
        # play to the end
        await pilot.press("p")
        await wait_until(pilot, lambda: not app.generating, what="the reply to finish")
        assert reply.status == "complete" and len(reply.steps) == 12
        assert app.sync.flush()
        stats = app.sync.store.get_message(app.sync.stored_id(reply.id)).stats
        assert any(change["sampling"]["temperature"] == 2.5 for change in stats["settings_changes"])
        stored = app.sync.store.token_steps(app.sync.stored_id(reply.id))
        assert stored[5].chosen_by == "user" and stored[5].token_id == third.token_id


async def test_branch_from_a_token_and_move_between_branches(tmp_path):
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(max_new_tokens=10), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "Branch me")
        original = app.conversation.last("assistant")
        app.conversation_view.focus()
        await pilot.press("home", "right", "right", "right")  # token 4 (index 3)
        _, step = app.conversation_view.selected
        assert step.index == 3
        candidate = step.candidates[3]
        prompt_tokens = app.decoders.decoder.prompt_length
        forwarded = app.decoders.decoder.forwarded_tokens
        await pilot.press("4")
        await wait_until(
            pilot, lambda: not app.generating and app.conversation.last("assistant") is not original
        )
        branch = app.conversation.last("assistant")
        assert branch.parent == original.parent
        assert [s.token_id for s in branch.steps[:3]] == [s.token_id for s in original.steps[:3]]
        assert branch.steps[3].token_id == candidate.token_id and branch.steps[3].chosen_by == "user"
        # the prompt and the shared tokens came from the KV cache
        assert app.decoders.decoder.forwarded_tokens - forwarded < prompt_tokens
        assert app.conversation.sibling_position(branch.id) == (2, 2)
        # back to the original branch and forward again
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: app.conversation.leaf == original.id, what="original branch")
        assert app.conversation_view.view_for(original.id) is not None
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: app.conversation.leaf == branch.id, what="the new branch")
        session = app.sync.session_id
        branch_id, original_id = app.sync.stored_id(branch.id), app.sync.stored_id(original.id)
        assert app.sync.flush()

    resumed = WorkbenchApp(greedy_config(), resume=str(session), autoload=False)
    async with resumed.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        leaf = resumed.conversation.turns[resumed.conversation.leaf]
        assert leaf.id == branch_id and resumed.conversation.sibling_position(leaf.id) == (2, 2)
        assert leaf.steps[3].chosen_by == "user" and leaf.steps[3].token_id == candidate.token_id
        resumed.conversation_view.focus()
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: resumed.conversation.leaf == original_id)
        assert [s.token_id for s in resumed.conversation.turns[original_id].steps] == [
            s.token_id for s in original.steps
        ]


async def test_editing_an_earlier_message_makes_a_branch():
    app = WorkbenchApp(greedy_config(max_new_tokens=5), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "first")
        await send(app, pilot, "second")
        first_reply = app.conversation.path()[1]
        app.conversation_view.focus()
        await pilot.press("up")  # the cursor onto the first reply
        assert app.conversation_view.selected[0] is first_reply
        await pilot.press("e")
        chat_input = app.query_one("#chat-input")
        assert chat_input.value == "first"
        chat_input.value = "first, edited"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: not app.generating and app.conversation.path()[0].content == "first, edited"
        )
        path = app.conversation.path()
        assert len(path) == 2 and app.conversation.sibling_position(path[0].id) == (2, 2)


async def test_completion_mode_continues_raw_text_as_tutorial_code_does():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await pilot.press("f8")
        assert app.completion_mode
        await send(app, pilot, "The capital of France is")
        first = app.conversation.last("assistant")
        # the prompt was tokenizer(text).input_ids: no chat template
        expected = tiny.tokenizer("The capital of France is").input_ids
        assert app.decoders.decoder.ids[: app.decoders.decoder.prompt_length] == expected
        # an empty Enter continues the document from its exact tokens
        await send(app, pilot, "")
        second = app.conversation.last("assistant")
        assert second.parent == first.id
        continued_prompt = app.decoders.decoder.ids[: app.decoders.decoder.prompt_length]
        assert continued_prompt == expected + [s.token_id for s in first.steps if not s.is_end]
        header = app.conversation_view.view_for(first.id).query_one(".message-header").render()
        assert "Continuation" in str(header)
        assert app.sync.flush()
        assert app.sync.store.get_session(app.sync.session_id).ui["mode"] == "completion"


async def test_step_keys_g_t_and_play_speed():
    """g takes the most probable token, t types one (by #id), +/- change the play speed."""
    app = WorkbenchApp(sampling_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        app.chat_input.value = "Step with keys"
        await pilot.press("enter")
        await paused(app, pilot, 0)
        waiting = app._chooser.waiting
        top = max(waiting.candidates, key=lambda c: c.p)
        await pilot.press("g")
        await paused(app, pilot, 1)
        first = app.reply.turn.steps[0]
        assert first.token_id == top.token_id and first.chosen_by == "greedy"
        # t: type the next token by its id; the least likely shown candidate, to be sure it is ours
        chosen = app._chooser.waiting.candidates[-1]
        await pilot.press("t")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "PickTokenScreen", what="picker")
        app.screen.query_one("#pick-input").value = f"#{chosen.token_id}"
        await pilot.press("enter")
        await paused(app, pilot, 2)
        second = app.reply.turn.steps[1]
        assert second.token_id == chosen.token_id and second.chosen_by == "user"
        assert second.p == pytest.approx(chosen.p)
        # + and - step through the play speeds, from 0.5 s a token
        assert app.play_delay == 0.5
        app.chart.focus()
        await pilot.press("plus")
        assert app.play_delay == 0.25
        await pilot.press("minus", "minus")
        assert app.play_delay == 1.0
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="stop")
