"""Type the next token yourself: by its text (which must be exactly one token) or as #id."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from workbench.engine.tokens import TokenTable
from workbench.safetext import safe_line


def resolve_token(table: TokenTable, tokenizer: Any, text: str) -> tuple[int | None, str]:
    """(token id, '') for '#42' or text that is one token; (None, why not) otherwise."""
    stripped = text.strip()
    if stripped.startswith("#") and stripped[1:].isdigit():
        token_id = int(stripped[1:])
        if token_id >= table.size:
            return None, f"#{token_id} is outside the vocabulary (0..{table.size - 1})"
        return token_id, ""
    if not text:
        return None, "type a token's text, or #id"
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) == 1:
        return ids[0], ""
    pieces = " ".join(table.label(i) for i in ids[:8])
    return None, f"that text is {len(ids)} tokens ({pieces}); type one of them, or #id"


class PickTokenScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PickTokenScreen { align: center middle; }
    PickTokenScreen > Vertical { width: 60; height: auto; border: round $accent; background: $surface; padding: 1 2; }
    PickTokenScreen #pick-error { color: $error; height: auto; }
    PickTokenScreen #pick-preview { color: $text-muted; height: auto; }
    """

    def __init__(self, table: TokenTable, tokenizer: Any) -> None:
        super().__init__()
        self.table = table
        self.tokenizer = tokenizer

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Next token: its text (a leading space matters) or #id", id="pick-title")
            yield Input(placeholder=" Paris   or   #7042", id="pick-input")
            yield Static("", id="pick-preview")
            yield Static("", id="pick-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        token_id, why = resolve_token(self.table, self.tokenizer, event.value)
        preview = self.query_one("#pick-preview", Static)
        preview.update(
            Text(f"→ {safe_line(self.table.label(token_id))}  id {token_id}") if token_id is not None else ""
        )
        self.query_one("#pick-error", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        token_id, why = resolve_token(self.table, self.tokenizer, event.value)
        if token_id is None:
            self.query_one("#pick-error", Static).update(Text(why))
            return
        self.dismiss(token_id)

    def action_cancel(self) -> None:
        self.dismiss(None)
