"""The key bar at the bottom: the few keys that matter where the focus is, F1 help last.

It replaces Textual's Footer, which lists bindings in declaration order and, at 80-100
columns, cut off everything after the first six (F6-F8, 1-9 never showed). Here each place
has its own short list (ui/keys.py), cut to the width in order of importance.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from workbench.ui.keys import SEPARATOR, Hint, hints_for

# The nearest of these ids among the focused widget and its ancestors names the place.
PLACE_OF_ID = {
    "chat-input": "message",
    "conversation": "conversation",
    "chart": "chart",
    "settings-pane": "settings",
    "tokenizer-pane": "tokenizer",
    "classify-pane": "classify",
    "fill-pane": "fill",
    "diff-pane": "diff",
    "score-pane": "score",
}
# Nothing of those focused (the tab bar, or no focus): the active tab says where the user is.
PLACE_OF_TAB = {
    "chat": "message",
    "tokenizer": "tokenizer",
    "settings": "settings",
    "classify": "classify",
    "fill": "fill",
    "diff": "diff",
    "score": "score",
}


class KeyBar(Widget):
    COMPONENT_CLASSES = {"key-bar--key"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        padding: 0 1;
    }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    """

    def on_mount(self) -> None:
        # Published by the screen whenever the focus moves (and on refresh_bindings()).
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    @property
    def place(self) -> str:
        focused = self.screen.focused
        if focused is not None:
            for node in focused.ancestors_with_self:
                place = PLACE_OF_ID.get(getattr(node, "id", None) or "")
                if place is not None:
                    if place == "chart" and self._paused():
                        return "chart-paused"
                    return place
        tabs = getattr(self.app, "tabs", None)
        active = getattr(tabs, "active", "") or "chat"
        return PLACE_OF_TAB.get(active, "message")

    @property
    def hints(self) -> list[Hint]:
        width = max(0, self.size.width - 2) or 78  # before the first layout: an 80-column guess
        return hints_for(self.place, width, generating=bool(getattr(self.app, "generating", False)))

    def _paused(self) -> bool:
        chooser = getattr(self.app, "_chooser", None)
        return chooser is not None and chooser.waiting is not None

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        text = Text(no_wrap=True, overflow="crop")
        for index, (key, label) in enumerate(self.hints):
            if index:
                text.append(SEPARATOR)
            text.append(key, style=key_style)
            text.append(" " + label)
        return text
