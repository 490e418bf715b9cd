"""The chat tab: the conversation and its input on the left, the live candidates chart on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input

from workbench.ui.widgets.chart import CandidatesChart
from workbench.ui.widgets.conversation import ConversationView


class ChatInput(Input):
    """The message box. Up in an empty box edits your last message, as in most chat apps."""

    BINDINGS = [
        Binding("up", "edit_last", "Edit last"),
        Binding("tab", "focus_conversation", "Token cursor", show=False),
    ]

    def action_edit_last(self) -> None:
        if not self.value:
            self.app.action_edit_last()  # type: ignore[attr-defined]

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
    ChatPane #chart { width: 42%; min-width: 30; max-width: 70; }
    ChatPane #chat-input { margin: 0 0; }
    ChatPane.narrow #chart { display: none; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="chat-left"):
            yield ConversationView(id="conversation")
            yield ChatInput(placeholder="Message the model… (Enter sends)", id="chat-input")
        yield CandidatesChart(id="chart")

    def on_resize(self) -> None:
        # Below 64 columns two panes would both be too narrow: keep the conversation.
        self.set_class(self.size.width < 64, "narrow")
