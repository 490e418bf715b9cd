"""The system prompt in effect, first in the chat: a collapsed line that expands, with what
the model's chat template did with it (Gemma 3 merges it into the first message, a tokenizer
without a template sends a plain transcript, SmolLM2's template writes its own default)."""

from __future__ import annotations

import copy
import dataclasses

from tests.models import smol_tokenizer, tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from tests.unit.test_chat_templates import GEMMA3
from workbench.engine import prompts
from workbench.ui.app import WorkbenchApp
from workbench.ui.messages import ModelLoaded
from workbench.ui.panes.settings import SettingsPane

PIRATE = "Talk like a pirate.\nNever break character."


def tiny_with_template(template: str | None):
    """The tiny model with a tokenizer of its own (a shallow copy: the cached one is untouched)
    and its own LoadedModel (the app releasing it never touches the shared model)."""
    tokenizer = copy.copy(smol_tokenizer())
    tokenizer.chat_template = template
    return dataclasses.replace(tiny_loaded(), tokenizer=tokenizer)


def shown(line) -> str:
    return str(line.render())


async def test_the_system_line_folds_expands_and_shows_what_the_template_did():
    app = WorkbenchApp(
        greedy_config(max_new_tokens=4, system_prompt=PIRATE), autoload=False, save_settings=False
    )
    async with app.run_test(size=(100, 30)) as pilot:
        line = app.conversation_view.system_line
        assert not line.display  # no model yet: nothing to say
        gemma3 = tiny_with_template(GEMMA3)
        await start_with_model(app, pilot, gemma3)
        await wait_until(pilot, lambda: line.display and line.region.height == 1, what="collapsed line")
        # collapsed: one line with the merge notice first (on screen in a narrow chat column:
        # after the prompt's text it was cut off) and the first line of the prompt
        text = shown(line)
        assert text.startswith(
            "▸ System ⚠ this model's chat template has no system role: it puts the system prompt"
        )
        assert text.endswith(" · Talk like a pirate. …")
        on_screen = app.screen._compositor.render_strips()[line.region.y].text
        assert "⚠ this model's chat template" in on_screen, on_screen
        assert "Never break" not in text
        assert line.region.y < app.query_one(".empty-hint").region.y  # first in the chat
        # a click expands it: the whole prompt and the whole notice
        await pilot.click(line, offset=(4, 0))  # (offset 0 is where the focused view puts its border)
        await wait_until(pilot, lambda: line.region.height >= 4, what="expanded line")
        text = shown(line)
        assert text.startswith("▾ System")
        assert "Talk like a pirate.\nNever break character." in text
        assert f"⚠ {prompts.MERGED_NOTICE}" in text
        # s in the conversation folds it again
        app.conversation_view.focus()
        await pilot.press("s")
        await wait_until(pilot, lambda: line.region.height == 1, what="folded again")
        # the reply's prompt has the system text where Gemma 3 puts it, and the line stays first
        await send(app, pilot, "Hello")
        prompt = app._prompt_builder(app.conversation.path()[-1])(gemma3.tokenizer)
        assert prompt.text.startswith(f"{gemma3.tokenizer.bos_token}<start_of_turn>user\n{PIRATE}\n\nHello")
        assert prompt.notice == prompts.MERGED_NOTICE
        assert line.region.y < app.conversation_view.views()[0].region.y

        # a tokenizer without a chat template: the line says so even with no system prompt
        app.post_message(SettingsPane.UiChanged(dataclasses.replace(app.ui_settings, system_prompt="")))
        await wait_until(pilot, lambda: app.ui_settings.system_prompt == "", what="settings")
        bare = tiny_with_template(None)
        app.post_message(ModelLoaded(bare))
        await wait_until(pilot, lambda: app.loaded is bare, what="no-template model")
        await wait_until(pilot, lambda: "no chat template" in shown(line), what="no-template notice")
        assert shown(line).startswith("▸ System ⚠ this tokenizer has no chat template")
        assert shown(line).endswith(" · none")

        # SmolLM2's own template writes a system prompt when there is none: that is the one shown
        smol = tiny_with_template(smol_tokenizer().chat_template)
        app.post_message(ModelLoaded(smol))
        await wait_until(pilot, lambda: app.loaded is smol, what="SmolLM2 template")
        await wait_until(pilot, lambda: "template default" in shown(line), what="the template's default")
        assert shown(line) == (
            "▸ System (template default): You are a helpful AI assistant named SmolLM, "
            "trained by Hugging Face"
        )
        # completion mode sends no system prompt: no line
        app.action_toggle_completion_mode()
        await pilot.press("y")  # (the chat has messages: F8 asks before starting a new one)
        await wait_until(pilot, lambda: not line.display, what="hidden in completion mode")
