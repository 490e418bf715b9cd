"""Stop sequences in the Settings pane and the app, the chat's settings header, and each
reply's speed and time to first token, saved and shown again on resume."""

from __future__ import annotations

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from tests.ui.test_settings_pane import Harness, enter_text, error_text
from workbench.config import Config
from workbench.engine.settings import SamplingSettings
from workbench.ui.app import WorkbenchApp
from workbench.ui.widgets.chat_header import sampling_summary


def header(app: WorkbenchApp) -> str:
    return str(app.query_one("#chat-header").content)


def reply_header(app: WorkbenchApp) -> str:
    view = app.conversation_view.view_for(app.conversation.last("assistant").id)
    return str(view.query_one(".message-header").content) if view is not None and view.is_mounted else ""


async def test_stop_field_shows_posts_and_refuses_bad_escapes() -> None:
    app = Harness(Config(sampling=SamplingSettings(stop=("\n\n", "User:"))))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one("#set-stop").value == "\\n\\n | User:"
        enter_text(app, "set-stop", "\\n\\n | User: | \\sBob")
        await wait_until(pilot, lambda: len(app.posted) == 1)
        assert app.posted[0].settings.stop == ("\n\n", "User:", " Bob")
        enter_text(app, "set-stop", "oops\\q")
        await wait_until(pilot, lambda: "is not an escape" in error_text(app, "set-stop"))
        assert error_text(app, "set-stop").startswith("Stop: \\q is not an escape")
        assert len(app.posted) == 1  # nothing posted while the field is invalid
        enter_text(app, "set-stop", "")
        await wait_until(pilot, lambda: len(app.posted) == 2)
        assert app.posted[1].settings.stop == ()


def test_sampling_summary_leaves_out_what_is_off():
    assert sampling_summary(SamplingSettings()) == "temp 0.8 · top-k 40 · top-p 0.95 · min-p 0.05 · max 512"
    greedy = SamplingSettings(do_sample=False, repetition_penalty=1.1, seed=3, stop=("\n", "A:"))
    assert sampling_summary(greedy) == 'greedy · rep 1.1 · seed 3 · stop "\\n" "A:" · max 512'
    assert sampling_summary(SamplingSettings(top_k=0, top_p=1, min_p=0)) == "temp 0.8 · max 512"


async def test_stop_sequence_in_the_app_header_stats_and_resume():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(max_new_tokens=20, system_prompt="Be brief."), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        assert header(app) == "greedy · max 20 · system Be brief."
        await send(app, pilot, "Hi")
        free = app.conversation.last("assistant")
        assert free.stats["finish_reason"] == "length"
        first = free.stats["first_token_seconds"]
        assert 0 < first <= free.stats["seconds"]
        await wait_until(pilot, lambda: "TTFT" in reply_header(app) and "tok/s" in reply_header(app))
        texts = [s.text for s in free.steps]
        i = next(i for i in range(1, len(texts) - 1) if len(texts[i]) >= 3 and len(texts[i + 1]) >= 3)
        stop = texts[i][-2:] + texts[i + 1][:2]
        start = free.content.find(stop)
        # the stop string, typed in Settings, reaches the header at once and the next reply
        app.action_show_tab("settings")
        await pilot.pause()
        enter_text(app, "set-stop", f"{stop} | never")
        await wait_until(pilot, lambda: app.sampling.stop == (stop, "never"))
        assert header(app) == f'greedy · stop "{stop}" "never" · max 20 · system Be brief.'
        app.action_show_tab("chat")
        await pilot.pause()
        app.action_regenerate()
        await wait_until(pilot, lambda: not app.generating and app.conversation.last("assistant") is not free)
        stopped = app.conversation.last("assistant")
        assert stopped.stats["finish_reason"] == "stop_sequence"
        assert stopped.content == free.content[:start]  # the stop string is cut
        assert [s.token_id for s in stopped.steps] == [s.token_id for s in free.steps[: i + 2]]
        # (the view is mounted anew after regenerating: its header shows the end once it is)
        await wait_until(pilot, lambda: f'stop "{stop}"' in reply_header(app) and "TTFT" in reply_header(app))
        shown = reply_header(app)
        await wait_until(pilot, lambda: app.sync.flush())

    again = WorkbenchApp(greedy_config(), resume="last", autoload=False)
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert again.sampling.stop == (stop, "never")  # the session's settings
        assert f'stop "{stop}" "never"' in header(again)
        resumed = again.conversation.last("assistant")
        assert resumed.stats["first_token_seconds"] == stopped.stats["first_token_seconds"]
        assert resumed.settings is not None and resumed.settings["stop"] == [stop, "never"]
        await wait_until(pilot, lambda: reply_header(again) == shown)  # tokens, tok/s, TTFT, stop, as saved
