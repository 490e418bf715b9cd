"""The whole app under Pilot: chat, stop, regenerate, edit, copy, heat map, token cursor, tabs, help.

A tiny random Llama (with the real SmolLM2 tokenizer) keeps these fast; the bundled model
checks real behaviour at the end.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys

import pytest
from rich.text import Text

from tests.models import bundled_loaded, tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench import paths
from workbench.config import load_config
from workbench.ui.app import WorkbenchApp
from workbench.ui.panes.settings import SettingsPane
from workbench.ui.widgets.conversation import ConversationView, MessageView


def make_app(**kwargs) -> WorkbenchApp:
    config = kwargs.pop("config", None) or greedy_config()
    return WorkbenchApp(config, autoload=False, **kwargs)


async def test_first_frame_is_drawn_before_torch_is_imported():
    code = (
        "import asyncio, sys\n"
        "from workbench.ui.app import WorkbenchApp\n"
        "seen = {}\n"
        "class Probe(WorkbenchApp):\n"
        "    def load_model(self, settings):\n"
        "        seen['torch_at_load'] = 'torch' in sys.modules\n"
        "        seen['frame_drawn'] = self.first_frame_at is not None\n"
        "async def main():\n"
        "    app = Probe()\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause(0.3)\n"
        "asyncio.run(main())\n"
        "assert seen == {'torch_at_load': False, 'frame_drawn': True}, seen\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


async def test_chat_streams_a_reply_with_the_chart_and_status():
    tiny = tiny_loaded()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "Hello there")
        path = app.conversation.path()
        assert [t.role for t in path] == ["user", "assistant"]
        reply = path[-1]
        assert reply.status == "complete" and len(reply.steps) == reply.stats["tokens"]
        assert reply.content == "".join(s.text for s in reply.steps)
        # the chart shows the last token's real candidates
        assert app.chart.candidates == reply.steps[-1].candidates
        assert len(app.chart.candidates) == 10
        status = app.status.text
        assert "tok/s" in status and "ctx" in status and "tiny-random-llama" in status
        # the reply is saved in the session store (by the writer thread)
        assert app.sync.flush()
        stored = app.sync.store.messages(app.sync.session_id)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[-1].content == reply.content
        assert [s.token_id for s in app.sync.store.token_steps(stored[-1].id)] == [
            s.token_id for s in reply.steps
        ]


async def test_escape_stops_generation_and_keeps_the_partial_reply(slow_endless_tokens):
    tiny = tiny_loaded()
    app = make_app(config=greedy_config(max_new_tokens=400))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        app.query_one("#chat-input").value = "Tell me everything"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: app.generating and len(app.reply.turn.steps) >= 3, what="a few tokens"
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="stop")
        reply = app.conversation.last("assistant")
        assert reply.status == "stopped"
        assert 3 <= len(reply.steps) < 400
        assert reply.stats["finish_reason"] == "cancelled"
        header = app.conversation_view.view_for(reply.id).query_one(".message-header").render()
        assert "stopped" in str(header)
        assert app.sync.flush()
        assert app.sync.store.get_message(app.sync.stored_id(reply.id)).status == "stopped"


async def test_regenerate_and_edit_make_branches():
    tiny = tiny_loaded()
    app = make_app(config=Config_with_sampling())
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "First question")
        first_reply = app.conversation.last("assistant")
        await pilot.press("ctrl+r")
        await wait_until(
            pilot, lambda: not app.generating and app.conversation.last("assistant") is not first_reply
        )
        second_reply = app.conversation.last("assistant")
        assert second_reply.parent == first_reply.parent
        assert app.conversation.sibling_position(second_reply.id) == (2, 2)
        assert first_reply.id in app.conversation.turns  # the old reply is kept as a branch
        header = app.conversation_view.view_for(second_reply.id).query_one(".message-header").render()
        assert "2/2" in str(header)

        chat_input = app.query_one("#chat-input")
        chat_input.focus()
        await pilot.press("up")
        assert chat_input.value == "First question"
        chat_input.value = "Edited question"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: not app.generating and app.conversation.last("user").content == "Edited question"
        )
        edited = app.conversation.last("user")
        original = app.conversation.turns[first_reply.parent]
        assert edited.parent == original.parent and app.conversation.sibling_position(edited.id) == (2, 2)
        assert [t.content for t in app.conversation.path()][0] == "Edited question"


def Config_with_sampling():
    from workbench.config import Config, UiSettings
    from workbench.engine.settings import LoadSettings, SamplingSettings

    return Config(LoadSettings(model="tiny"), SamplingSettings(seed=None, max_new_tokens=10), UiSettings())


async def test_new_chat_copy_and_heatmap():
    tiny = tiny_loaded()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "Say something")
        reply = app.conversation.last("assistant")
        await pilot.press("ctrl+y")
        assert app.clipboard == reply.content
        await pilot.press("f6")
        assert app.conversation_view.heatmap
        view = app.conversation_view.view_for(reply.id)
        assert view.token_mode
        body = view.query_one(".message-body").render()
        assert body.spans or "background" in str(body)  # coloured spans, one per token
        await pilot.press("f6")
        assert not app.conversation_view.heatmap
        old_session = app.sync.session_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.conversation.path() == [] and not app.conversation_view.views()
        await send(app, pilot, "Another chat")
        assert app.sync.session_id != old_session


async def test_token_cursor_shows_the_selected_tokens_candidates():
    tiny = tiny_loaded()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "Pick a token")
        reply = app.conversation.last("assistant")
        app.conversation_view.focus()
        await pilot.pause()
        turn, step = app.conversation_view.selected
        assert step is reply.steps[-1]
        await pilot.press("left", "left")
        turn, step = app.conversation_view.selected
        assert step is reply.steps[-3]
        assert app.chart.step is step and app.chart.candidates == step.candidates
        await pilot.press("home")
        assert app.conversation_view.selected[1] is reply.steps[0]
        assert "Token 1/" in app.chart.rendered_text().plain


async def test_tabs_help_and_palette_keys():
    tiny = tiny_loaded()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny)
        tabs = app.query_one("#tabs")
        for key, tab in (("f3", "tokenizer"), ("f4", "settings"), ("f2", "chat")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        await pilot.press("f3")
        await wait_until(
            pilot, lambda: "49,152" in str(app.query_one("#tok-status").render()), what="tokenizer set"
        )
        await pilot.press("f1")
        await pilot.pause()
        from workbench.ui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        from workbench.ui.screens.help import guide_text

        table = guide_text(100)
        for words in ("regenerate", "heat map", "stop the reply", "previous, next token"):
            assert words in table
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Stop generating",
            "Regenerate reply",
            "Edit last message",
            "New chat",
            "Copy reply",
            "Toggle heat map",
        ):
            assert title in titles


async def test_sampling_changes_apply_and_persist():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await pilot.press("f4")
        await pilot.pause()
        temperature = app.query_one("#set-temperature")
        temperature.value = "0.3"
        await wait_until(pilot, lambda: app.sampling.temperature == 0.3, what="temperature applied")
        saved, problems = load_config(paths.config_file())
        assert saved.sampling.temperature == 0.3 and problems == []
        temperature.value = "-1"
        await pilot.pause(0.2)
        assert app.sampling.temperature == 0.3  # refused inline, not applied
        assert "Temperature must be" in str(app.query_one("#set-temperature-error").render())


async def test_theme_switch_persists():
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "workbench-dark"
        app.post_message(SettingsPane.UiChanged(app.ui_settings.__class__(theme="workbench-light")))
        await wait_until(pilot, lambda: app.theme == "workbench-light")
        assert load_config(paths.config_file())[0].ui.theme == "workbench-light"


async def test_a_bad_model_is_reported_and_the_app_stays_up(tmp_path):
    tiny = tiny_loaded()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        from workbench.engine.settings import LoadSettings

        app.post_message(SettingsPane.LoadRequested(LoadSettings(model=str(tmp_path))))
        await wait_until(
            pilot, lambda: "holds no model" in str(app.query_one("#set-load-state").render()), timeout=60
        )
        assert app.loaded is tiny  # the old model stays loaded and usable
        assert any("holds no model" in str(n.message) for n in app._notifications)
        await send(app, pilot, "Still there?")
        assert app.conversation.last("assistant").status == "complete"


UNTRUSTED = "[bold]x[/] [link=x]y \x1b[2J\x1b]52;c;SGk=\x07 a\rb é"


async def test_untrusted_model_output_is_shown_literally(monkeypatch):
    """Force the model to 'generate' markup and escape sequences through the real worker path."""
    tiny = tiny_loaded()
    script = tiny.tokenizer.encode(UNTRUSTED, add_special_tokens=False) + [2]
    from workbench.engine import sampling

    position = iter(range(len(script)))

    def scripted_choose(self, q):
        import torch

        return torch.tensor(script[next(position)])

    monkeypatch.setattr(sampling.Sampler, "choose", scripted_choose)
    app = make_app(config=greedy_config(max_new_tokens=100))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, tiny)
        await send(app, pilot, "[red]user text[/red] \x1b[31m")
        reply = app.conversation.last("assistant")
        assert reply.content == UNTRUSTED
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg
        # the screen's text, run by run (a reply is drawn token by token: one run per token)
        runs = html.unescape("".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))).replace("\xa0", " ")
        assert "[bold]x[/]" in runs
        assert "[red]user text[/red]" in runs
        view = app.conversation_view.view_for(reply.id)
        assert isinstance(view, MessageView)
        app.conversation_view.focus()
        await pilot.pause()
        chart_text = app.chart.rendered_text()
        assert isinstance(chart_text, Text) and "\x1b" not in chart_text.plain


@pytest.mark.slow
async def test_the_bundled_model_answers_in_the_app():
    app = make_app(config=greedy_config(max_new_tokens=40))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_with_model(app, pilot, bundled_loaded("float32"))
        await send(app, pilot, "What is the capital of France?")
        reply = app.conversation.last("assistant")
        assert "Paris" in reply.content and reply.stats["finish_reason"] == "eos"


def test_conversation_view_is_focusable():
    assert ConversationView.can_focus
