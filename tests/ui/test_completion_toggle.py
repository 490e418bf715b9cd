"""F8 (chat / completion mode) on an empty chat just changes the mode; on a chat with
messages it asks first, since the other mode starts a new chat (the old one stays saved)."""

from __future__ import annotations

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp
from workbench.ui.screens.dialogs import ConfirmScreen


async def test_f8_on_an_empty_chat_changes_mode_without_a_session():
    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f8")
        await pilot.pause()
        assert app.completion_mode and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("f8")
        await pilot.pause()
        assert not app.completion_mode
        assert app.sync.flush()
        assert app.sync.store is not None and app.sync.store.list_sessions() == []


async def test_f8_on_a_chat_with_messages_asks_first():
    app = WorkbenchApp(greedy_config(max_new_tokens=6), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "Hello")
        turns = app.conversation.path()
        session = app.sync.session_id
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")
        await pilot.pause()
        assert not app.completion_mode, "'Stay' keeps the chat and its mode"
        assert app.conversation.path() == turns and app.sync.session_id == session
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.completion_mode, what="completion mode")
        assert app.conversation.path() == []
        assert app.sync.flush()
        assert len(app.sync.store.list_sessions()) == 1, (
            "the chat stays saved; nothing new until text is sent"
        )
