"""F1: every key, grouped by where it works, built from the bindings themselves."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

EXTRA = [
    (
        "Everywhere",
        [("ctrl+p", "Command palette: every action by name"), ("tab / shift+tab", "Move between widgets")],
    ),
    ("Chat", [("enter", "Send the message"), ("tab", "Focus the conversation to move a token cursor")]),
]

# A section's title stays within the key column; what it is about goes beside it.
SECTION_NOTES = {
    "Conversation": "when the conversation has focus",
    "Classify tab (F9)": "label probabilities for a text (a classifier, or zero-shot)",
    "Fill tab (F10)": "the top-k candidates for each [MASK] (a masked LM)",
}


def _key_name(keys: str) -> str:
    """'ctrl+r' -> 'Ctrl+R', 'escape' -> 'Esc', 'f1' -> 'F1'; a lone letter keeps its case ('y', 'Y')."""
    names = {"escape": "Esc", "enter": "Enter", "left": "←", "right": "→", "up": "↑", "down": "↓"}
    names.update({key: key for key in keys.split(",") if len(key) == 1})
    return ", ".join(
        "+".join(
            names.get(part, part.upper() if len(part) <= 3 else part.capitalize()) for part in key.split("+")
        )
        for key in keys.split(",")
    )


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._table(), id="help-table")

    def _sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        from workbench.ui.widgets.conversation import ConversationView

        def rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
            out = []
            for binding in bindings:
                if isinstance(binding, Binding):
                    out.append((binding.key, binding.description))
                else:
                    out.append((binding[0], binding[2] if len(binding) > 2 else binding[1]))
            return out

        sections = [("Workbench", rows(list(self.app.BINDINGS)))]
        sections.append(("Conversation", rows(ConversationView.BINDINGS)))
        for name, widget_type in self._pane_bindings():
            if widget_type.BINDINGS:
                sections.append((name, rows(list(widget_type.BINDINGS))))
        sections.extend(EXTRA)
        return sections

    def _pane_bindings(self) -> list[tuple[str, type[Widget]]]:
        from workbench.ui.panes.classify import ClassifyPane
        from workbench.ui.panes.fill import FillPane
        from workbench.ui.panes.settings import SettingsPane
        from workbench.ui.panes.tokenizer import TokenizerPane

        return [
            ("Tokenizer", TokenizerPane),
            ("Settings", SettingsPane),
            ("Classify tab (F9)", ClassifyPane),
            ("Fill tab (F10)", FillPane),
        ]

    def _table(self) -> Table:
        table = Table(title="Keys (Esc closes)", expand=True, show_header=False, box=None, padding=(0, 2))
        table.add_column("key", style="bold cyan", no_wrap=True, width=18)
        table.add_column("action", ratio=1)
        for title, rows in self._sections():
            table.add_row(
                Text(title, style="bold underline"), Text(SECTION_NOTES.get(title, ""), style="dim")
            )
            for key, description in rows:
                table.add_row(Text(_key_name(key)), Text(description))
            table.add_row("", "")
        return table
