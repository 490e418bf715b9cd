"""The Fill tab under Pilot: candidates equal to the engine's direct softmax, errors in the status line."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input, Static

from tests.fill_models import direct_fill, save_bert_mlm
from tests.ui.helpers import greedy_config, wait_until
from workbench.ui.app import WorkbenchApp
from workbench.ui.panes.fill import FillPane, MaskBars

TEXT = "The capital of France is [MASK] and [MASK]."
HOSTILE = " [bold]x[/] [link=x]y \x1b[2J \x1b]52;c;SGk=\x07"


def status_of(app: WorkbenchApp) -> str:
    return str(app.query_one("#fill-status", Static).render())


def is_error(app: WorkbenchApp) -> bool:
    return "-error" in app.query_one("#fill-status", Static).classes


async def fill(pilot, text: str) -> None:
    """Put the text in, press Ctrl+L, wait for the pane to finish (a result or an error)."""
    app = pilot.app
    pane = app.query_one(FillPane)
    before = pane.last
    area = app.query_one("#fill-text")
    area.text = text
    area.focus()
    await pilot.press("ctrl+l")
    await wait_until(pilot, lambda: not pane.busy and (pane.last is not before or is_error(app)), what="fill")


async def test_the_tab_shows_the_candidates_of_a_direct_softmax(tmp_path):
    folder = save_bert_mlm(tmp_path / "bert-mlm")
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(
        '{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}'
    )
    config = greedy_config()
    config = replace(config, model=replace(config.model, device="cpu", dtype="float32"))
    app = WorkbenchApp(config, autoload=False)  # the tab needs none of the app's own model
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await wait_until(pilot, lambda: app.tabs.active == "fill", what="fill tab")
        await wait_until(pilot, lambda: app.focused is app.query_one("#fill-text"), what="text focused")
        pane = app.query_one(FillPane)

        # No model named: the status says what to do.
        await fill(pilot, TEXT)
        assert "name a masked language model" in status_of(app) and pane.last is None

        app.query_one("#fill-model", Input).value = str(folder)
        app.query_one("#fill-top-k", Input).value = "4"
        text = TEXT + HOSTILE
        await fill(pilot, text)
        result = pane.last
        assert result is not None and not is_error(app), status_of(app)
        expected = direct_fill(folder, text)
        assert [m.position for m in result.masks] == [pos for pos, _ in expected]
        shown = str(app.query_one(MaskBars).render())
        for mask, (_, probs) in zip(result.masks, expected, strict=True):
            values, ids = probs.topk(4)
            assert [c.token_id for c in mask.candidates] == ids.tolist()
            assert [c.p for c in mask.candidates] == pytest.approx(values.tolist(), abs=1e-5)
            for rank, c in enumerate(mask.candidates, 1):  # each row: rank, token, id, p
                assert any(
                    line.split()[:4] == [str(rank), c.token, str(c.token_id), f"{c.p:.4f}"]
                    for line in shown.splitlines()
                ), (c, shown)
        assert "Mask 1 of 2" in shown and "Mask 2 of 2" in shown and "\u2588" in shown
        assert "\x1b" not in shown and "bert-mlm" in status_of(app) and "2 masks" in status_of(app)

        # Errors go to the status line, and the old bars go (under the error they read as its
        # result); the pane keeps the last result.
        await fill(pilot, "no blank here")
        assert is_error(app) and "no mask" in status_of(app) and pane.last is result
        assert app.query_one(MaskBars).result is None and "Mask 1" not in str(
            app.query_one(MaskBars).render()
        )
        app.query_one("#fill-top-k", Input).value = "0"
        await fill(pilot, TEXT)
        assert is_error(app) and "top-k" in status_of(app)
        app.query_one("#fill-top-k", Input).value = "3"
        app.query_one("#fill-model", Input).value = str(tmp_path / "llama")
        await fill(pilot, TEXT)
        assert is_error(app) and "causal language model" in status_of(app) and pane.last is result
        for spec, words in (("default", "causal language model"), (str(tmp_path / "none"), "no such file")):
            app.query_one("#fill-model", Input).value = spec
            await fill(pilot, TEXT)
            assert is_error(app) and words in status_of(app) and pane.last is result


async def test_placeholders_are_plain_text_not_markup():
    """Textual reads a str placeholder as markup: the Fill box's "[MASK]" vanished, and a model
    named with brackets would lose them in the message box."""
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await wait_until(pilot, lambda: app.tabs.active == "fill", what="fill tab")
        await pilot.pause()
        area = app.query_one("#fill-text")
        row = area.region.y + 1 if area.styles.border_top[0] else area.region.y
        screen = [strip.text for strip in app.screen._compositor.render_strips()]
        assert "The capital of France is [MASK]." in "\n".join(screen[row : row + 3])
        app.chat_input.placeholder = "Message model[Q4_K]-v2 [b]x[/b]"
        assert app.chat_input.placeholder.plain == "Message model[Q4_K]-v2 [b]x[/b]"
