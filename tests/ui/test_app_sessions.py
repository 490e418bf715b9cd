"""Sessions inside the app: saved as they happen, resumed with settings, opened from F5."""

from __future__ import annotations

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.config import Config, UiSettings
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.ui.app import WorkbenchApp


async def test_resume_last_restores_messages_settings_and_token_records():
    tiny = tiny_loaded()
    config = Config(
        LoadSettings(model="tiny"),
        SamplingSettings(do_sample=False, max_new_tokens=8, repetition_penalty=1.2),
        UiSettings(system_prompt="Be terse.", top_k_shown=7),
    )
    first = WorkbenchApp(config, autoload=False)
    async with first.run_test(size=(100, 30)) as pilot:
        await start_with_model(first, pilot, tiny)
        await send(first, pilot, "Remember the word lighthouse")
        await send(first, pilot, "And a second question")
        before = [(t.role, t.content) for t in first.conversation.path()]
        steps_before = [s.token_id for s in first.conversation.last("assistant").steps]

    second = WorkbenchApp(greedy_config(), resume="last", autoload=False)
    async with second.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert [(t.role, t.content) for t in second.conversation.path()] == before
        assert second.sampling.repetition_penalty == 1.2 and second.sampling.max_new_tokens == 8
        assert second.ui_settings.system_prompt == "Be terse." and second.ui_settings.top_k_shown == 7
        reply = second.conversation.last("assistant")
        assert [s.token_id for s in reply.steps] == steps_before
        # a token of the old reply shows its stored candidates in the chart
        second.conversation_view.focus()
        await pilot.pause()
        assert second.chart.step is reply.steps[-1]
        assert len(second.chart.candidates) == 7
        # settings pane shows the resumed values
        assert second.query_one("#set-repetition-penalty").value in ("1.2", "1.2000")
        # continuing the chat appends to the same session
        await start_with_model(second, pilot, tiny)
        await send(second, pilot, "Third")
        assert len(second.sync.store.messages(second.sync.session_id)) == 6


async def test_f5_opens_a_session_from_the_list():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "The first session talks about zebras")
        first_session = app.sync.session_id
        await pilot.press("ctrl+n")
        await send(app, pilot, "The second session talks about otters")
        assert app.sync.session_id != first_session
        await pilot.press("f5")
        from workbench.ui.screens.sessions import SessionsScreen

        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        search = app.screen.query_one("#sessions-search")
        search.value = "zebras"
        await wait_until(pilot, lambda: "1 of 2" in str(app.screen.query_one("#sessions-count").render()))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.sync.session_id == first_session, what="session opened")
        assert "zebras" in app.conversation.path()[0].content


async def test_a_damaged_database_is_reported_and_left_alone(workbench_home):
    from workbench import paths

    db = paths.database_file()
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    original = db.read_bytes()
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.sync.store is None
        assert any("will not be saved" in str(n.message) for n in app._notifications)
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "Still works without saving")
        assert app.conversation.last("assistant").status == "complete"
    assert db.read_bytes() == original
