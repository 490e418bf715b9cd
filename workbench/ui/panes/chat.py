"""The chat tab: the conversation and its input on the left, the live candidates chart on the right."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import TextArea

from workbench.ui.panes.tokenizer import plain_placeholder
from workbench.ui.widgets.chart import CandidatesChart
from workbench.ui.widgets.chat_header import ChatHeader
from workbench.ui.widgets.conversation import ConversationView

NEWLINE_KEYS = "ctrl+j,shift+enter,alt+enter"
"""Keys that add a line break. Ctrl+J works in every terminal; Shift+Enter and Alt+Enter only
where the terminal reports them apart from Enter (kitty keyboard protocol)."""
NEWLINE_HINT = "Ctrl+J new line"


class ChatInput(TextArea):
    """The message box: multi-line, Enter sends, Ctrl+J adds a line, a paste keeps every line.

    Up in an empty box edits your last message, as in most chat apps.
    It keeps the parts of ``Input``'s API the app uses: ``value``, ``placeholder``,
    ``cursor_blink``, ``focus()``, and :class:`ChatInput.Submitted` (``.input``, ``.value``).
    """

    DEFAULT_CSS = """
    ChatInput {
        height: auto;
        min-height: 3;
        max-height: 8;
        border-subtitle-color: $foreground 50%;
    }
    ChatInput:focus { border-subtitle-color: $foreground 70%; }
    """

    BINDINGS = [
        Binding("up", "edit_last", "Edit last"),
        Binding("tab", "focus_conversation", "Token cursor", show=False),
        Binding(NEWLINE_KEYS, "newline", "New line", show=False),
        # TextArea selects a word/line/all on F5/F6/F7 and redoes on Ctrl+Y; in the message
        # box these keys keep the app's meaning (sessions, heat map, step mode, copy).
        Binding("f5", "app.sessions", "Sessions", show=False),
        Binding("f6", "app.toggle_heatmap", "Heat map", show=False),
        Binding("f7", "app.toggle_step_mode", "Step mode", show=False),
        Binding("ctrl+y", "app.copy", "Copy", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """Enter was pressed: send ``value``. Handle it with ``on_chat_input_submitted``."""

        input: ChatInput
        value: str

        @property
        def control(self) -> ChatInput:
            return self.input

    def __init__(self, value: str = "", *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(
            value,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder=plain_placeholder(placeholder),
            id=id,
        )
        self.border_subtitle = NEWLINE_HINT

    def validate_placeholder(self, placeholder: str | Content) -> Content:
        return plain_placeholder(placeholder)  # (it names the model: no markup)

    @property
    def value(self) -> str:
        """The text in the box (as ``Input.value``)."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
        # Any other key goes on to TextArea._on_key: Textual calls each class's own handler.

    def action_newline(self) -> None:
        if not self.read_only:
            self.replace("\n", *self.selection, maintain_selection_offset=False)

    def action_cursor_line_end(self, select: bool = False) -> None:
        """End: the end of the line; at the end of the text (an empty box), the conversation's
        end ("↓ more" shows while the user has scrolled away from it)."""
        if not select and self.cursor_location == self.document.end:
            self.screen.query_one(ConversationView).action_scroll_to_end()
        else:
            super().action_cursor_line_end(select)

    def action_edit_last(self) -> None:
        if not self.text:
            self.app.action_edit_last()  # type: ignore[attr-defined]
        else:
            self.action_cursor_up()

    def action_focus_conversation(self) -> None:
        """Tab goes to the chart while a token waits in step mode, else to the conversation
        (its token cursor), not round the hidden tabs."""
        chooser = getattr(self.app, "_chooser", None)
        if chooser is not None and chooser.waiting is not None:
            self.screen.query_one(CandidatesChart).focus()
        else:
            self.screen.query_one(ConversationView).focus()


class ChatPane(Horizontal):
    DEFAULT_CSS = """
    ChatPane { height: 1fr; }
    ChatPane #chat-left { width: 1fr; min-width: 30; }
    ChatPane #chart { width: 42%; min-width: 36; max-width: 70; }
    ChatPane #chat-input { margin: 0 0; }
    ChatPane.narrow #chart { display: none; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="chat-left"):
            yield ChatHeader(id="chat-header")  # the sampling settings the next reply uses
            yield ConversationView(id="conversation")
            yield ChatInput(placeholder="Message the model… (Enter sends)", id="chat-input")
        yield CandidatesChart(id="chart")

    def on_resize(self) -> None:
        # Below 66 columns two panes would both be too narrow: keep the conversation.
        self.set_class(self.size.width < 66, "narrow")
