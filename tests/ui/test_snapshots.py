"""SVG snapshots of the main layouts (pytest-textual-snapshot). Update with --snapshot-update.

Figures that change from run to run (speed, memory) are frozen before the picture is taken,
and only where the app shows them itself (no speed or memory before a model has run), so each
picture is a status line a user can see; everything else, the candidates and their
probabilities included, is the real output of a tiny seeded model.
"""

from __future__ import annotations

import pytest

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp


def freeze(app: WorkbenchApp) -> None:
    app.clear_notifications()
    for widget in app.query("Input"):
        widget.cursor_blink = False
    for widget in app.query("TextArea"):
        widget.cursor_blink = False
    if app.status.info.tokens_per_second is not None:
        app.status.update_info(tokens_per_second=12.3)
    for view in app.conversation_view.views():
        if view.turn.stats.get("tokens_per_second"):
            view.turn.stats["tokens_per_second"] = 12.3
        view.refresh_body()


@pytest.fixture(autouse=True)
def stable_memory_figure(monkeypatch):
    """The app reads memory every 2 s once a model is loaded; a fixed reading keeps the picture
    stable whenever that happens, and the app alone decides where the figure is shown."""
    from workbench.engine import devices

    monkeypatch.setattr(devices, "memory_in_use", lambda plan: "RAM 1.00G")


async def chat_with_reply(pilot) -> None:
    app = pilot.app
    await start_with_model(app, pilot, tiny_loaded())
    await send(app, pilot, "What is a token?")
    freeze(app)
    await pilot.pause()


def app_for_snapshot() -> WorkbenchApp:
    return WorkbenchApp(greedy_config(max_new_tokens=12), autoload=False, save_settings=False)


def test_chat_80x24(snap_compare):
    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=chat_with_reply)


def test_chat_with_token_cursor_and_heatmap_200x50(snap_compare):
    async def run_before(pilot) -> None:
        await chat_with_reply(pilot)
        await pilot.press("f6")
        pilot.app.conversation_view.focus()
        await pilot.press("left", "left")
        freeze(pilot.app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(200, 50), run_before=run_before)


def test_tokenizer_80x24(snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f3")
        app.query_one("#tok-input").load_text("good morning, i am good")
        await wait_until(
            pilot, lambda: "6 tokens" in str(app.query_one("#tok-counts").content), what="tokens"
        )
        freeze(app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=run_before)


def test_settings_80x24(snap_compare):
    async def run_before(pilot) -> None:
        await pilot.press("f4")
        freeze(pilot.app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=run_before)


def test_help_80x24(snap_compare):
    async def run_before(pilot) -> None:
        freeze(pilot.app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=run_before)


def test_help_100x30(snap_compare):
    async def run_before(pilot) -> None:
        freeze(pilot.app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(100, 30), run_before=run_before)
