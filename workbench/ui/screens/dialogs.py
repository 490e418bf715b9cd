"""Small modal dialogs: a yes/no confirmation and a one-line rename.

Both take already-safe text from their caller (built as ``Text``, never markup): the titles
they show come from the session database and may hold anything a model or a user wrote.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from workbench.safetext import safe_line

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 64; max-width: 95%; height: auto;
    border: thick $primary 80%; background: $surface; padding: 1 2;
}}
{name} .dialog-buttons {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} .dialog-buttons Button {{ margin-left: 2; min-width: 10; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True for yes. "No" has the focus, so a stray
    Enter never confirms a destructive action."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="ConfirmScreen")
        + """
    ConfirmScreen #confirm-message { height: auto; }
    """
    )

    def __init__(self, message: Text | str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        # A plain str is taken as text too (made safe), never as markup.
        self.message = message if isinstance(message, Text) else Text(safe_line(message))
        self.yes_label, self.no_label = yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.message, id="confirm-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text(f"{self.yes_label} (y)"), id="confirm-yes", variant="error")
                yield Button(Text(f"{self.no_label} (n)"), id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class RenameScreen(ModalScreen[str | None]):
    """Edit a title; dismisses with the new title (whitespace collapsed), or None when
    cancelled. An empty title is refused in place, with the reason under the field."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="RenameScreen")
        + """
    RenameScreen #rename-label { height: auto; margin-bottom: 1; }
    RenameScreen #rename-error { height: auto; color: $error; }
    """
    )

    def __init__(self, title: str, *, label: str = "New title") -> None:
        super().__init__()
        # Prefilled with what the list showed: control characters already made visible.
        self.initial = safe_line(title)
        self.label = label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.label), id="rename-label")
            yield Input(value=self.initial, id="rename-input", select_on_focus=True)
            yield Static("", id="rename-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Rename", id="rename-ok", variant="primary")
                yield Button("Cancel", id="rename-cancel")

    def on_mount(self) -> None:
        self.query_one("#rename-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#rename-error", Static).update("")  # the refusal is stale once typing resumes

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "rename-ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        title = " ".join(self.query_one("#rename-input", Input).value.split())
        if not title:
            self.query_one("#rename-error", Static).update(Text("A title cannot be empty."))
            return
        self.dismiss(title)
