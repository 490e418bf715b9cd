"""Smaller things from issue 11 (item 10): the palette's Screenshot, the Copied toast, the
first keys typed, the tokenizer's special-token switch."""

from __future__ import annotations

import time
from pathlib import Path

from tests.ui.helpers import greedy_config, wait_until
from workbench.ui.app import WorkbenchApp


def _toasts(app: WorkbenchApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def test_palette_screenshot_saves_an_svg_and_says_where(tmp_path, monkeypatch, workbench_home):
    # a home with no Downloads folder (a server, a container): Textual's own screenshot failed
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", what="palette")
        await pilot.press(*"Screenshot")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(_toasts(app, "Screenshot")), what="the screenshot's toast")
        message = _toasts(app, "Screenshot")[0]
        assert message.startswith("Saved "), message
        saved = Path(message.removeprefix("Saved "))
        assert saved.parent == workbench_home / "screenshots"
        assert saved.read_text(encoding="utf-8").lstrip().startswith("<svg")
        assert "F2 Chat" in saved.read_text(encoding="utf-8").replace("&#160;", " ")


async def test_the_copied_toast_goes_within_a_few_seconds():
    from tests.models import tiny_loaded
    from tests.ui.helpers import send, start_with_model

    def copied_toasts() -> list[str]:
        return [str(t.render()) for t in app.screen.query("Toast") if "Copied" in str(t.render())]

    app = WorkbenchApp(greedy_config(max_new_tokens=4), autoload=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # toasts drawn, as in use
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "Hello")
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: bool(copied_toasts()), what="the Copied toast")
        shown = time.monotonic()
        await wait_until(pilot, lambda: not copied_toasts(), timeout=10, what="the Copied toast to go")
        assert time.monotonic() - shown < 4  # Textual's default is 5 s; a confirmation needs less
