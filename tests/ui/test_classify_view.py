"""The Classify tab under Pilot: zero-shot with the app's model, a classifier folder, errors, hostile text."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from textual.widgets import Input, Static

from tests.classify_models import direct_softmax, direct_zero_shot, save_llama_classifier
from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, start_with_model, wait_until
from workbench.engine.classifier_loading import load_for_classify
from workbench.engine.classify import DEFAULT_TEMPLATE, fill_template
from workbench.engine.classify import classify as classify_text
from workbench.ui.app import WorkbenchApp
from workbench.ui.panes.classify import ClassifyPane, LabelBars, effect_chip
from workbench.ui.screens.help import HelpScreen, guide_text

TEXT = "I loved this film, it was wonderful"
HOSTILE = "[bold]x[/] [link=x]y \x1b[2J \x1b]52;c;SGk=\x07"


def pane_of(app: WorkbenchApp) -> ClassifyPane:
    return app.query_one(ClassifyPane)


def status_of(app: WorkbenchApp) -> str:
    return str(app.query_one("#cls-status", Static).render())


async def classify(pilot, text: str) -> None:
    """Type the text, press Ctrl+L, wait for the pane to finish."""
    app = pilot.app
    pane = pane_of(app)
    before = pane.last
    area = app.query_one("#cls-text")
    area.text = text
    area.focus()
    await pilot.press("ctrl+l")
    await wait_until(
        pilot, lambda: not pane.busy and (pane.last is not before or "-error" in status_of_classes(app))
    )


def status_of_classes(app: WorkbenchApp) -> set[str]:
    return set(app.query_one("#cls-status", Static).classes)


async def test_zero_shot_with_the_apps_model_shows_bars_and_tokens():
    tiny = tiny_loaded()
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny)
        await pilot.press("f9")
        await wait_until(pilot, lambda: app.tabs.active == "classify", what="classify tab")
        await wait_until(pilot, lambda: app.focused is app.query_one("#cls-text"), what="text focused")
        labels = app.query_one("#cls-labels", Input)
        labels.value = "good, bad"
        await classify(pilot, TEXT + " " + HOSTILE)
        result = pane_of(app).last
        assert result is not None and result.method == "zero-shot"
        expected = direct_zero_shot(
            tiny, fill_template(DEFAULT_TEMPLATE, TEXT + " " + HOSTILE), ["good", "bad"]
        )
        for score in result.labels:
            assert score.p == pytest.approx(expected[score.label][0], abs=1e-5)
        shown = str(app.query_one(LabelBars).render())
        assert "good" in shown and "bad" in shown and "\u2588" in shown and "\u2192" in shown
        assert "\u2423good" in shown and "\u2423bad" in shown  # the per-token breakdown
        assert "zero-shot" in status_of(app)

        # Bad input: one line in the status, no crash, and the last result stays.
        app.query_one("#cls-template", Input).value = "no placeholder"
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: "-error" in status_of_classes(app))
        assert "{text}" in status_of(app)
        assert pane_of(app).last is result

        # F1 lists both tabs' keys and what Ctrl+L does in each.
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        table = guide_text(100)
        assert re.search(r"F9 F10 +classify, fill tabs", table), table
        assert re.search(r"Classify \(F9\), Fill \(F10\) *\n *Ctrl\+L +run *\n", table), table


async def test_a_classifier_folder_in_the_model_field(tmp_path):
    folder = save_llama_classifier(tmp_path / "clf")
    config = greedy_config()
    config = replace(config, model=replace(config.model, device="cpu", dtype="float32"))
    app = WorkbenchApp(config, autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        app.action_show_tab("classify")
        await pilot.pause()
        app.query_one("#cls-model", Input).value = str(tmp_path / "nothing-here")
        await classify(pilot, TEXT)
        assert "no such file or folder" in status_of(app)

        app.query_one("#cls-model", Input).value = str(folder)
        await classify(pilot, TEXT)
        result = pane_of(app).last
        assert result is not None and result.method == "classifier"
        expected = direct_softmax(folder, TEXT)
        for score in result.labels:  # loaded with the app's device and dtype settings
            assert score.p == pytest.approx(expected[score.label], abs=1e-5)
        assert "classifier" in status_of(app)
        shown = str(app.query_one(LabelBars).render())
        assert all(label in shown for label in expected)

        # Each token's leave-one-out effect: the engine's numbers, every chip on screen.
        engine = classify_text(
            load_for_classify(replace(config.model, model=str(folder))), TEXT, effects=True
        )
        assert [(e.label, e.delta) for e in result.effects] == [
            (e.label, pytest.approx(e.delta, abs=1e-6)) for e in engine.effects
        ]
        assert len(result.effects) == len(TEXT.split()) + 1  # 7 words and a comma, no specials
        assert f"\u0394p({result.top.label}) without each token" in shown
        lines = shown.splitlines()
        for effect in engine.effects:
            assert any(effect_chip(effect) in line for line in lines), effect_chip(effect)
        assert max(len(line) for line in lines) <= 80, lines
