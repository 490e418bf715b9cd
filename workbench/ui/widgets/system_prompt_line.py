"""The system prompt in effect, shown first in the chat as one line that expands."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widgets import Static

from workbench.safetext import safe_line, safe_text


class SystemPromptLine(Static):
    """The system prompt in effect, first in the chat: one line that expands (click it, or
    press s in the conversation) to the whole text and what the chat template did with it."""

    DEFAULT_CSS = """
    SystemPromptLine {
        height: auto; padding: 0 1; margin: 0 0 1 0; color: $text-muted;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    SystemPromptLine:hover { background: $boost; }
    SystemPromptLine.-expanded { text-wrap: wrap; border-left: thick $warning 50%; }
    """

    def __init__(self) -> None:
        super().__init__("", classes="system-line")
        self.system_text = ""
        self.notice: str | None = None
        self.from_template = False  # the chat template's own default, not the user's
        self.expanded = False
        self.display = False

    def set_system(self, text: str, notice: str | None = None, from_template: bool = False) -> None:
        """Show ``text`` (empty: none) and the notice about it; hidden when there is neither."""
        if (text, notice, from_template) == (self.system_text, self.notice, self.from_template):
            return
        self.system_text, self.notice, self.from_template = text, notice, from_template
        self.display = bool(text.strip() or notice)
        self.update(self.body_text())

    def toggle(self) -> None:
        self.expanded = not self.expanded
        self.set_class(self.expanded, "-expanded")
        self.update(self.body_text())

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.toggle()

    def body_text(self) -> Text:
        title = "System (template default)" if self.from_template else "System"
        warn = Style(color="yellow")
        text = self.system_text.strip()
        if not self.expanded:
            line = Text()  # one line: the CSS cuts it with an ellipsis
            if self.notice:  # first, so that it shows in a narrow chat column too
                line.append(f"▸ {title} ", Style(bold=True))
                line.append(f"⚠ {safe_line(self.notice)}", warn)
                line.append(" · ", Style(dim=True))
            else:
                line.append(f"▸ {title}: ", Style(bold=True))
            first = safe_line(text.splitlines()[0]) if text else "none"
            line.append(first, Style(italic=not text))
            if text and "\n" in text:
                line.append(" …", Style(dim=True))
            return line
        out = Text()
        out.append(f"▾ {title}", Style(bold=True))
        out.append("  (click or s folds it)\n", Style(dim=True))
        out.append(safe_text(text) if text else "none", Style(italic=not text))
        if self.notice:
            out.append(f"\n⚠ {safe_line(self.notice)}", warn)
        return out
