"""F4's scale-up fields: max memory (checked as typed and against the device), quantize, compile."""

from __future__ import annotations

from textual.widgets import Select, Switch

from tests.ui.test_settings_pane import Harness, enter_text, error_text, press_button, toggle, wait_until
from workbench.config import Config
from workbench.engine.settings import LoadSettings
from workbench.ui.panes.settings import SettingsPane


async def test_scale_up_fields_show_check_and_post() -> None:
    config = Config(model=LoadSettings(max_memory="cpu=8GiB", quantize="8bit", compile=True))
    app = Harness(config)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one("#set-max-memory").value == "cpu=8GiB"  # type: ignore[attr-defined]
        assert app.query_one("#set-quantize", Select).value == "8bit"
        assert app.query_one("#set-compile", Switch).value is True
        enter_text(app, "set-max-memory", "0=20XB")
        await wait_until(
            pilot, lambda: "Max memory: '20XB' for 0 is not a size" in error_text(app, "set-max-memory")
        )
        await press_button(pilot, "set-load")
        await pilot.pause()
        assert app.posted == []
        # valid on its own, but not with device cpu: the Load button says so on the field
        enter_text(app, "set-max-memory", "cpu=4GiB")
        enter_text(app, "set-device", "cpu")
        await wait_until(pilot, lambda: error_text(app, "set-max-memory") == "")
        await press_button(pilot, "set-load")
        await wait_until(pilot, lambda: "needs device auto" in error_text(app, "set-max-memory"))
        assert app.focused is app.query_one("#set-max-memory") and app.posted == []
        enter_text(app, "set-device", "auto")
        app.query_one("#set-quantize", Select).value = "4bit"
        await toggle(pilot, "set-compile")
        await press_button(pilot, "set-load")
        await wait_until(pilot, lambda: bool(app.posted))
        message = app.posted[0]
        assert isinstance(message, SettingsPane.LoadRequested)
        assert message.load == LoadSettings(max_memory="cpu=4GiB", quantize="4bit", compile=False)
