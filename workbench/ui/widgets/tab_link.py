"""A key shown at the right end of the tab bar's row, e.g. "F5 Sessions": a screen, not a tab,
but found where the tabs are. A click runs the same action as the key."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget


class TabLink(Widget):
    # Its own layer (declared by the screen in app.tcss): docked there, it overlays the tab
    # bar's row instead of taking a column from everything below it.
    DEFAULT_CSS = """
    TabLink {
        layer: tablinks;
        dock: right;
        width: auto;
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    TabLink:hover { color: $text; background: $boost; }
    """

    def __init__(self, key: str, label: str, action: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key, self.label, self.action = key, label, action
        self.tooltip = f"{label} ({key})"

    def render(self) -> Text:
        return Text.assemble((self.key, "bold"), " ", self.label)

    def get_content_width(self, container: object, viewport: object) -> int:
        return len(self.key) + 1 + len(self.label)

    async def on_click(self, event: events.Click) -> None:
        event.stop()
        await self.app.run_action(self.action)
