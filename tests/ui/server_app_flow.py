"""One session of the app attached to a llama.cpp server, as a user runs it: a streamed reply,
then a reply stepped three tokens (g, g, then candidate 2), then stopped.

Shared by the Pilot test (tests/ui/test_app_server.py, against the replayed recording) and
the script that recorded it from a real llama-server (tests/recordings/record_llamacpp_app.py).
"""

from __future__ import annotations

from typing import Any

from tests.ui.helpers import greedy_config, wait_until
from workbench.ui.app import WorkbenchApp

QUESTION = "What is the capital of France?"
SECOND = "And of Italy?"


async def run_flow(url: str, store: Any = None) -> dict[str, Any]:
    """Drive the app; returns what it showed, for the caller to check."""
    config = greedy_config(max_new_tokens=24, top_k_shown=5)
    app = WorkbenchApp(config, autoload=False, save_settings=False, server=(url, None), store=store)
    seen: dict[str, Any] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.server is not None, what="the server attached")
        seen["title"] = str(app.chart.border_title)
        seen["status"] = app.status.text
        app.chat_input.value = QUESTION
        app.send(QUESTION)
        await wait_until(pilot, lambda: app.reply is None and len(app.conversation.turns) >= 2, 60)
        streamed = app.conversation.turns[app.conversation.leaf]
        seen["streamed"] = streamed
        seen["chart"] = app.chart.rendered_text(app.chart.content_size.width).plain
        # step mode: three tokens, then stop
        app.action_toggle_step_mode()
        app.send(SECOND)
        picks = ["greedy", "greedy", "token2"]
        seen["paused"] = []
        for pick in picks:
            await wait_until(pilot, lambda: app._chooser is not None and app._chooser.waiting is not None, 60)
            dist = app._chooser.waiting  # type: ignore[union-attr]
            seen["paused"].append(tuple(dist.candidates))
            if pick == "greedy":
                app.action_step_greedy()
            else:
                app.action_step_pick(2)
            reply = app.reply
            await wait_until(
                pilot,
                lambda reply=reply: (
                    reply is None  # type: ignore[misc]
                    or len(reply.turn.steps) + len(reply.pending) >= len(seen["paused"])
                ),
                60,
            )
        await wait_until(pilot, lambda: app._chooser is None or app._chooser.waiting is not None, 60)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.reply is None, 60)
        seen["stepped"] = app.conversation.turns[app.conversation.leaf]
        app.sync.flush()
        seen["session_id"] = app.sync.session_id
    return seen
