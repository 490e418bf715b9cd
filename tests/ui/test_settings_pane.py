"""The settings pane alone in a tiny app: fields show the config, valid edits post, invalid ones don't."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, Switch, TextArea

from workbench.config import Config, UiSettings
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.ui.panes.settings import SettingsPane
from workbench.ui.themes import register_themes

BUNDLED = ["workbench-dark", "workbench-high-contrast", "workbench-light"]

CUSTOM = Config(
    model=LoadSettings(model="HuggingFaceTB/SmolLM2-135M-Instruct", device="cpu", dtype="bfloat16"),
    sampling=SamplingSettings(
        do_sample=False,
        temperature=0.7,
        top_k=40,
        top_p=0.9,
        min_p=0.05,
        repetition_penalty=1.1,
        max_new_tokens=64,
        seed=7,
    ),
    ui=UiSettings(theme="workbench-light", top_k_shown=12, system_prompt="Be brief.", heatmap=True),
)


class Harness(App[None]):
    """Only the pane; records every message it posts, in order."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.posted: list[Message] = []
        self.theme_problems: list[str] = []

    def compose(self) -> ComposeResult:
        yield SettingsPane(self.config)

    def on_mount(self) -> None:
        self.theme_problems = register_themes(self)

    def on_settings_pane_sampling_changed(self, message: SettingsPane.SamplingChanged) -> None:
        self.posted.append(message)

    def on_settings_pane_ui_changed(self, message: SettingsPane.UiChanged) -> None:
        self.posted.append(message)

    def on_settings_pane_load_requested(self, message: SettingsPane.LoadRequested) -> None:
        self.posted.append(message)

    @property
    def pane(self) -> SettingsPane:
        return self.query_one(SettingsPane)


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.01)


async def type_into(pilot: Pilot[Any], widget_id: str, text: str) -> None:
    """Replace a field's text by typing, as a user would (one key at a time: slow, use sparingly)."""
    field = pilot.app.query_one(f"#{widget_id}", Input)
    field.focus()
    field.clear()
    await pilot.press(*text)


def enter_text(app: App[Any], widget_id: str, text: str) -> None:
    """Replace a field's text in one edit (a paste): the same Input.Changed path, without key latency."""
    app.query_one(f"#{widget_id}", Input).value = text


async def toggle(pilot: Pilot[Any], widget_id: str) -> None:
    """Focus a switch (scrolling it into view) and flip it with the keyboard."""
    pilot.app.query_one(f"#{widget_id}").focus()
    await pilot.press("space")


async def press_button(pilot: Pilot[Any], widget_id: str) -> None:
    pilot.app.query_one(f"#{widget_id}").focus()
    await pilot.press("enter")


def error_text(app: App[Any], widget_id: str) -> str:
    label = app.query_one(f"#{widget_id}-error", Static)
    return str(label.content) if label.has_class("-shown") else ""


async def test_every_field_shows_the_config() -> None:
    app = Harness(CUSTOM)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "workbench-light" in app.available_themes)
        text = {
            "set-model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "set-device": "cpu",
            "set-temperature": "0.7",
            "set-top-k": "40",
            "set-top-p": "0.9",
            "set-min-p": "0.05",
            "set-repetition-penalty": "1.1",
            "set-max-new-tokens": "64",
            "set-seed": "7",
            "set-top-k-shown": "12",
        }
        for widget_id, value in text.items():
            assert app.query_one(f"#{widget_id}", Input).value == value, widget_id
        assert app.query_one("#set-dtype", Select).value == "bfloat16"
        assert app.query_one("#set-trust", Switch).value is False
        assert app.query_one("#set-do-sample", Switch).value is False
        assert app.query_one("#set-heatmap", Switch).value is True
        assert app.query_one("#set-system-prompt", TextArea).text == "Be brief."
        assert app.query_one("#set-theme", Select).value == "workbench-light"
        await pilot.pause()
        assert app.posted == []  # showing values is not changing them
        assert app.pane.config == CUSTOM


async def test_valid_temperature_edit_posts_sampling_changed() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "set-temperature", "0.7")
        # Every valid prefix applies ("0" is greedy, "0." the same value, so not re-posted).
        await wait_until(pilot, lambda: len(app.posted) == 2)
        assert all(isinstance(m, SettingsPane.SamplingChanged) for m in app.posted)
        assert [m.settings.temperature for m in app.posted] == [0.0, 0.7]  # type: ignore[attr-defined]
        assert app.posted[-1].settings == SamplingSettings(temperature=0.7)  # type: ignore[attr-defined]


INVALID = [
    # field, bad text, start of the inline error (the field's label, not top_p), a fix, what it posts
    (
        "set-temperature",
        "-1",
        "Temperature must be 0 (greedy) or a positive number such as 0.7, not '-1'",
        "0.5",
        SamplingSettings(temperature=0.5),
    ),
    (
        "set-temperature",
        "hot",
        "Temperature must be a number, not 'hot'",
        "2",
        SamplingSettings(temperature=2.0),
    ),
    ("set-top-p", "2", "Top-p must be greater than 0 and at most 1", "0.5", SamplingSettings(top_p=0.5)),
    ("set-top-k", "-5", "Top-k must be 0 (off) or a positive whole number", "5", SamplingSettings(top_k=5)),
    ("set-max-new-tokens", "0", "Max new tokens must be at least 1", "9", SamplingSettings(max_new_tokens=9)),
    ("set-seed", "x", "Seed must be a whole number", "3", SamplingSettings(seed=3)),
    (
        "set-repetition-penalty",
        "0",
        "Repetition penalty must be a positive number",
        "1.1",
        SamplingSettings(repetition_penalty=1.1),
    ),
    # torch.Generator.manual_seed overflows at 2**64: refused here, not at the first reply
    (
        "set-seed",
        "18446744073709551616",
        "Seed must be a non-negative whole number from 0 to 18446744073709551615",
        "18446744073709551615",
        SamplingSettings(seed=2**64 - 1),
    ),
    (
        "set-top-k-shown",
        "99",
        "The number of candidates shown must be between 1 and 50",
        "7",
        UiSettings(top_k_shown=7),
    ),
]


@pytest.mark.parametrize(("widget_id", "bad", "error", "fix", "expected"), INVALID)
async def test_invalid_value_is_refused_inline_until_fixed(
    widget_id: str, bad: str, error: str, fix: str, expected: SamplingSettings | UiSettings
) -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        enter_text(app, widget_id, bad)
        await wait_until(pilot, lambda: error_text(app, widget_id).startswith(error))
        assert app.query_one(f"#{widget_id}", Input).has_class("-invalid")
        enter_text(app, widget_id, fix)
        await wait_until(pilot, lambda: error_text(app, widget_id) == "")
        assert not app.query_one(f"#{widget_id}", Input).has_class("-invalid")
        await wait_until(pilot, lambda: bool(app.posted))
        # Messages arrive in order, so had the bad value posted anything it would come first.
        assert len(app.posted) == 1
        posted = app.posted[0]
        if isinstance(expected, SamplingSettings):
            assert isinstance(posted, SettingsPane.SamplingChanged) and posted.settings == expected
        else:
            assert isinstance(posted, SettingsPane.UiChanged) and posted.ui == expected


async def test_typing_minus_one_in_temperature_shows_the_reason() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "set-temperature", "-1")
        await wait_until(pilot, lambda: error_text(app, "set-temperature") != "")
        assert error_text(app, "set-temperature") == (
            "Temperature must be 0 (greedy) or a positive number such as 0.7, not '-1'"
        )
        await pilot.press("backspace", "backspace", "2")
        await wait_until(pilot, lambda: bool(app.posted))
        assert error_text(app, "set-temperature") == ""
        assert app.posted[0].settings == SamplingSettings(temperature=2.0)  # type: ignore[attr-defined]


async def test_nothing_is_posted_while_a_field_is_invalid() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        enter_text(app, "set-top-p", "2")
        await wait_until(pilot, lambda: error_text(app, "set-top-p") != "")
        enter_text(app, "set-temperature", "0.3")  # valid, but the set is not
        await toggle(pilot, "set-do-sample")
        await toggle(pilot, "set-heatmap")  # a sentinel from another group
        await wait_until(pilot, lambda: bool(app.posted))
        assert [type(m) for m in app.posted] == [SettingsPane.UiChanged]
        enter_text(app, "set-top-p", "0.8")
        await wait_until(pilot, lambda: len(app.posted) == 2)
        posted = app.posted[-1]
        assert isinstance(posted, SettingsPane.SamplingChanged)
        assert posted.settings == SamplingSettings(do_sample=False, temperature=0.3, top_p=0.8)


async def test_error_text_is_shown_literally() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        enter_text(app, "set-temperature", "[bold]")
        await wait_until(pilot, lambda: "[bold]" in error_text(app, "set-temperature"))
        app.pane.set_load_state("Error: [red]x[/] \x1b[2J")
        state = str(app.query_one("#set-load-state", Static).content)
        assert "[red]x[/]" in state and "\x1b" not in state and "\u241b" in state


async def test_device_is_checked_and_load_posts_the_fields() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        enter_text(app, "set-device", "gpu")
        await wait_until(
            pilot,
            lambda: error_text(app, "set-device").startswith("Device must be auto, cpu, cuda, cuda:N or mps"),
        )
        await press_button(pilot, "set-load")
        await wait_until(
            pilot, lambda: app.focused is app.query_one("#set-device")
        )  # sent back to the field to fix
        enter_text(app, "set-device", "cuda:1")
        await wait_until(pilot, lambda: error_text(app, "set-device") == "")
        enter_text(app, "set-model", "my/model")
        app.query_one("#set-dtype", Select).value = "float16"
        await toggle(pilot, "set-trust")
        await pilot.pause()
        assert app.posted == []  # model fields wait for the button
        await press_button(pilot, "set-load")
        await wait_until(pilot, lambda: bool(app.posted))
        assert len(app.posted) == 1
        message = app.posted[0]
        assert isinstance(message, SettingsPane.LoadRequested)
        assert message.load == LoadSettings(
            model="my/model", device="cuda:1", dtype="float16", trust_remote_code=True
        )
        # Enter in the model field asks too.
        app.query_one("#set-model", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.posted) == 2)
        assert app.posted[1].load == message.load  # type: ignore[attr-defined]


async def test_empty_model_is_refused() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        enter_text(app, "set-model", "")
        await wait_until(
            pilot, lambda: error_text(app, "set-model").startswith("Model source must name a model")
        )
        await press_button(pilot, "set-load")
        await pilot.pause()
        assert app.posted == []


async def test_set_config_refreshes_fields_without_posting() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        enter_text(app, "set-temperature", "-1")
        await wait_until(pilot, lambda: error_text(app, "set-temperature") != "")
        app.pane.set_config(CUSTOM)
        await pilot.pause()
        assert app.query_one("#set-temperature", Input).value == "0.7"
        assert error_text(app, "set-temperature") == ""
        assert app.query_one("#set-model", Input).value == CUSTOM.model.model
        assert app.query_one("#set-dtype", Select).value == "bfloat16"
        assert app.query_one("#set-system-prompt", TextArea).text == "Be brief."
        assert app.query_one("#set-theme", Select).value == "workbench-light"
        assert app.query_one("#set-heatmap", Switch).value is True
        # Sentinel: the next real edit is the first thing posted, and carries the new config.
        await toggle(pilot, "set-do-sample")
        await wait_until(pilot, lambda: bool(app.posted))
        assert len(app.posted) == 1
        assert app.posted[0].settings == CUSTOM.sampling.updated(do_sample=True)  # type: ignore[attr-defined]


async def test_theme_select_lists_bundled_themes_and_posts() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        select = app.query_one("#set-theme", Select)
        await wait_until(pilot, lambda: "workbench-light" in [value for _, value in select._options])
        assert app.theme_problems == []
        values = [value for _, value in select._options]
        assert values == sorted(app.available_themes)
        assert set(BUNDLED) <= set(values)
        assert select.value == "workbench-dark"
        select.focus()
        await pilot.press("enter", "down", "enter")  # the next theme in the sorted list
        await wait_until(pilot, lambda: bool(app.posted))
        message = app.posted[0]
        assert isinstance(message, SettingsPane.UiChanged)
        assert message.ui == UiSettings(theme="workbench-high-contrast")
        # The app applying it (or the command palette) moves the field without posting again.
        app.theme = "workbench-light"
        await wait_until(pilot, lambda: select.value == "workbench-light")
        await pilot.pause()
        assert len(app.posted) == 1


async def test_switches_and_system_prompt_post() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        await toggle(pilot, "set-do-sample")
        await wait_until(pilot, lambda: len(app.posted) == 1)
        assert app.posted[0].settings == SamplingSettings(do_sample=False)  # type: ignore[attr-defined]
        app.query_one("#set-system-prompt", TextArea).focus()
        await pilot.press(*"Hi")
        await wait_until(pilot, lambda: app.pane.config.ui.system_prompt == "Hi")
        assert app.posted[-1].ui == UiSettings(system_prompt="Hi")  # type: ignore[attr-defined]


async def test_tab_walks_every_field_at_80x24() -> None:
    app = Harness(Config())
    async with app.run_test(size=(80, 24)) as pilot:
        expected = [
            "set-model",
            "set-device",
            "set-dtype",
            "set-trust",
            "set-max-memory",
            "set-quantize",
            "set-compile",
            "set-server",
            "set-server-model",
            "set-load",
            "set-do-sample",
            "set-temperature",
            "set-top-k",
            "set-top-p",
            "set-min-p",
            "set-repetition-penalty",
            "set-max-new-tokens",
            "set-seed",
            "set-stop",
            "set-top-k-shown",
            "set-system-prompt",
            "set-theme",
            "set-heatmap",
        ]
        # The focus chain is the order Tab follows.
        assert [widget.id for widget in app.screen.focus_chain] == expected
        pane = app.pane
        assert not pane.has_class("-wide")
        app.screen.set_focus(None)
        await pilot.press("tab", "tab", "tab")
        assert app.focused is not None and app.focused.id == "set-dtype"
        # Focusing a field far down scrolls it into view.
        app.query_one("#set-heatmap").focus()
        await wait_until(pilot, lambda: pane.region.contains_region(app.query_one("#set-heatmap").region))
        assert pane.scroll_y > 0
        await pilot.press("shift+tab")
        assert app.focused is not None and app.focused.id == "set-theme"


async def test_wide_terminal_puts_sections_side_by_side() -> None:
    app = Harness(Config())
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        assert app.pane.has_class("-wide")
        model = app.query_one("#set-section-model").region
        sampling = app.query_one("#set-section-sampling").region
        display = app.query_one("#set-section-display").region
        assert sampling.x > model.right and sampling.y == model.y
        assert display.x == model.x and display.y >= model.bottom
        # Everything fits on one screen: the last field is visible without scrolling.
        assert app.pane.region.contains_region(app.query_one("#set-heatmap").region)
        assert app.pane.region.contains_region(app.query_one("#set-seed").region)


def test_importing_the_pane_does_not_import_torch() -> None:
    code = "import sys, workbench.ui.panes.settings, workbench.ui.themes; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
