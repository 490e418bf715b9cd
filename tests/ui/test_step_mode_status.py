"""Step mode says what is going on: a key pressed while the next token is still computed is
queued, not dropped; a paused reply says so in its header, the status line shows the context
really used, and tok/s counts the model's computing time, not the user's thinking time."""

from __future__ import annotations

import threading

import pytest

from tests.models import tiny_loaded
from tests.ui.helpers import paused, start_with_model, wait_until
from tests.ui.test_app_stepping import sampling_config
from workbench.ui.app import WorkbenchApp


class ForwardGate:
    """Holds the engine inside the forward pass for the next token while ``hold`` is set."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.inside = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> ForwardGate:
    from workbench.engine.decoding import Decoder

    gate = ForwardGate()
    distribution = Decoder.distribution

    def held(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if gate.hold.is_set():
            gate.inside.set()
            gate.release.wait(30)
        return distribution(self, *args, **kwargs)

    monkeypatch.setattr(Decoder, "distribution", held)
    return gate


def _header(app: WorkbenchApp) -> str:
    view = app.conversation_view.view_for(app.reply.turn.id)
    return str(view.query_one(".message-header").render())


async def test_g_pressed_while_the_next_token_is_computed_is_queued(gate):
    app = WorkbenchApp(sampling_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        app.chat_input.value = "Step through this"
        await pilot.press("enter")
        await paused(app, pilot, 0)
        gate.hold.set()
        await pilot.press("space")  # token 1; the engine then computes token 2's distribution
        await wait_until(pilot, gate.inside.is_set, what="the forward pass for token 2")
        assert app._chooser.waiting is None
        warnings_before = len(app._notifications)
        await pilot.press("g")  # early: the next token is not ready yet
        gate.hold.clear()
        gate.release.set()
        await paused(app, pilot, 2)  # g took token 2 as soon as it was ready
        steps = app.reply.turn.steps
        assert [s.chosen_by for s in steps] == ["sample", "greedy"]
        assert steps[1].token_id == max(steps[1].candidates, key=lambda c: c.p).token_id
        assert len(app._notifications) == warnings_before  # no "Not paused"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="stop")


async def test_a_paused_reply_says_so_and_the_status_shows_the_context_used():
    app = WorkbenchApp(sampling_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        app.chat_input.value = "Step through this"
        await pilot.press("enter")
        for n in range(3):
            await paused(app, pilot, n)
            await wait_until(pilot, lambda: "paused" in _header(app), what="the header")
            assert "paused: choose a token" in _header(app) and "generating" not in _header(app)
            used = len(app.decoders.decoder)  # the prompt and the tokens so far (the engine waits)
            assert used > n
            assert f"ctx {used}/{app.loaded.context_length}" in app.status.text
            await pilot.press("space")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="stop")


async def test_tok_s_in_step_mode_counts_computing_time_only():
    tokens = 4
    app = WorkbenchApp(sampling_config(max_new_tokens=tokens), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        app.chat_input.value = "Step through this"
        await pilot.press("enter")
        for n in range(tokens):
            await paused(app, pilot, n)
            await pilot.pause(0.6)  # the user thinks: 2.4 s in all, more than the model computes
            await pilot.press("space")
        await wait_until(pilot, lambda: not app.generating, what="the reply to end")
        reply = app.conversation.last("assistant")
        assert reply.stats["tokens"] == tokens
        # thinking time counted, the rate would be under tokens / 2.4 s = 1.7 tok/s
        assert reply.stats["tokens_per_second"] > 3
        assert reply.stats["waited_seconds"] >= tokens * 0.6
        view = app.conversation_view.view_for(reply.id)
        assert f"{reply.stats['tokens_per_second']:.1f} tok/s" in str(
            view.query_one(".message-header").render()
        )
