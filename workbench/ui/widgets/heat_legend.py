"""The heat map's colours for the current theme, and the legend that says what they mean."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Static

from workbench.ui.widgets.token_render import DEFAULT_PALETTE, HeatPalette

_palettes: dict[tuple[str, int], HeatPalette] = {}


def heat_palette(widget: Widget) -> HeatPalette:
    """The heat map's colours for the app's current theme (computed once per theme)."""
    try:
        app = widget.app
        theme = app.current_theme
    except Exception:  # not mounted in an app
        return DEFAULT_PALETTE
    key = (theme.name, id(theme))
    palette = _palettes.get(key)
    if palette is None:
        palette = _palettes[key] = HeatPalette.from_variables(app.get_css_variables())
    return palette


class HeatLegend(Static):
    """What the heat map's colours mean; shown while the heat map is on."""

    DEFAULT_CSS = """
    HeatLegend { dock: top; height: auto; display: none; background: $background; }
    HeatLegend.-on { display: block; }
    """

    def show(self, on: bool) -> None:
        self.set_class(on, "-on")
        if on:
            self.update(heat_palette(self).legend())
