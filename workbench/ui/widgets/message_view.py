"""One turn of the conversation: its header (role, branch, status, the reply's stats) and its
text, as the model wrote it (token by token), or as Markdown once finished (the ``m`` view).

A streaming plain reply is drawn by the cheap StreamingText; a reply with a heat map, a token
cursor or marks by ``render_steps`` into a Static. In completion mode the view is hidden and
its conversation's DocumentView draws every turn as one running text.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Markdown, Static

from workbench.conversation import Turn
from workbench.engine.steps import TokenStep
from workbench.safetext import safe_line, safe_text
from workbench.ui.widgets.heat_legend import heat_palette
from workbench.ui.widgets.markdown_parts import update_in_parts
from workbench.ui.widgets.reply_stats import reply_stats_parts
from workbench.ui.widgets.streaming_text import StreamingText
from workbench.ui.widgets.token_render import render_steps

ROLE_TITLES = {"user": "You", "assistant": "Model", "system": "System"}
COMPLETION_TITLES = {"user": "Text", "assistant": "Continuation", "system": "System"}
STATUS_NOTES = {"stopped": "stopped", "error": "failed", "streaming": "generating…"}


class MessageHost(Protocol):
    """What a MessageView asks of the conversation showing it (widgets/conversation.py)."""

    def refresh_document(self) -> None:
        """Completion mode: draw the running document again (a turn changed)."""

    def keep_end_in_view(self) -> None:
        """A reply changed height (its Markdown came in): keep following its end."""

    def document_end(self) -> tuple[Widget, int]:
        """Completion mode: the widget drawing the document, and its rows of text."""


class MessageView(Widget):
    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    MessageView.user { background: $primary 12%; border-left: thick $primary; }
    MessageView.assistant { border-left: thick $secondary 60%; }
    MessageView.selected { border-left: thick $accent; }
    MessageView .message-header { color: $text-muted; height: auto; }  /* wraps when narrow: tok/s, TTFT */
    MessageView .message-body { height: auto; }
    MessageView Markdown { margin: 0; padding: 0; height: auto; }
    MessageView .error-note { color: $error; height: auto; }
    """

    def __init__(
        self,
        turn: Turn,
        heatmap: bool = False,
        branch: tuple[int, int] = (1, 1),
        titles: dict[str, str] = ROLE_TITLES,
        markdown: bool = False,
        document: bool = False,
        host: MessageHost | None = None,
    ) -> None:
        super().__init__(classes=turn.role)
        self.turn = turn
        self.host = host  # the conversation showing it (None: shown alone, as in a test)
        self.titles = titles
        self.heatmap = heatmap
        self.markdown = markdown  # finished replies as Markdown (the ``m`` view)
        self.document = document  # completion mode: hidden, shown by the conversation's DocumentView
        self.display = not document
        self.branch = branch
        self.cursor: int | None = None
        self.forks: dict[int, list[int]] = {}  # token index -> sibling branches parting there
        self.mark: int | None = None  # v: where a selection of tokens starts (conversation_copy.py)
        self.paused = False  # step mode: the next token waits for the user
        self._markdown_state: str | None = None  # None, "pending" (being parsed), "ready"
        self._markdown_round = 0

    def compose(self) -> ComposeResult:
        yield Static(self.header(), classes="message-header")
        yield Static(classes="message-body")  # (filled on mount: a plain reply never needs it)
        yield StreamingText(classes="message-stream")
        yield Markdown("", classes="message-markdown")
        yield Static("", classes="error-note")

    def on_mount(self) -> None:
        # (``is_mounted`` turns true only after the Mount handlers: refresh_body would skip)
        with contextlib.suppress(NoMatches):  # removed again at once (another branch shown)
            self._render_body()

    # --- content ------------------------------------------------------------------

    def header(self) -> Text:
        turn = self.turn
        text = Text(self.titles.get(turn.role, turn.role), Style(bold=True))
        position, count = self.branch
        if count > 1:
            text.append(" ‹", Style(color="cyan"))
            text.append(f"{position}/{count}", Style(color="cyan", bold=True))
            text.append("›", Style(color="cyan"))
        if self.forks:
            where = ", ".join(str(index + 1) for index in sorted(self.forks))
            text.append(f" · fork at token {where}", Style(color="cyan"))
        note = STATUS_NOTES.get(turn.status)
        if turn.status == "streaming" and self.paused:
            note = "paused: choose a token"
        if note:
            text.append(f" · {note}", Style(italic=True, color="yellow" if turn.status != "error" else "red"))
        if turn.is_reply:
            for part in reply_stats_parts(turn.stats):  # tokens, tok/s, TTFT, stop string
                text.append(f" · {safe_line(part)}", Style(dim=True))
        return text

    def set_forks(self, forks: dict[int, list[int]]) -> None:
        """Mark the tokens where sibling branches part from this reply (underlined, and in
        the header)."""
        if forks != self.forks:
            self.forks = forks
            self.refresh_body()

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            with contextlib.suppress(NoMatches):  # (not composed yet: compose shows it)
                self.query_one(".message-header", Static).update(self.header())
                if paused:  # it stops growing while the user chooses: no blank rows held below it
                    self.query_one(".message-stream", StreamingText).fit()
            self._refresh_document()

    def _body_text(self) -> Text:
        """The turn as plain text: a reply token by token (each token findable by the mouse)."""
        turn = self.turn
        if turn.is_reply and turn.steps:
            return render_steps(
                turn.steps,
                self.heatmap,
                self.cursor,
                show_hidden=self.cursor is not None,
                palette=heat_palette(self),
                marks=frozenset(self.forks),
                mark=self.mark,
                turn_id=turn.id,
            )
        return Text(safe_text(turn.content))

    @property
    def token_mode(self) -> bool:
        """Plain text/tokens rather than Markdown."""
        turn = self.turn
        return (
            not self.markdown
            or not turn.is_reply
            or turn.status == "streaming"
            or self.heatmap
            or self.cursor is not None
        )

    @property
    def plain(self) -> bool:
        """A reply shown as its tokens' text with nothing drawn over them (no heat map, cursor,
        fork or copy marks, not Markdown): shown by the cheap StreamingText, streaming or not,
        so that finishing a reply re-renders nothing."""
        turn = self.turn
        return (
            turn.is_reply
            and not self.document
            and not self.heatmap
            and self.cursor is None
            and self.mark is None
            and not self.forks
            and (turn.status == "streaming" or (bool(turn.steps) and not self.markdown))
        )

    @property
    def streaming_plain(self) -> bool:
        """A plain reply still streaming (its StreamingText keeps rows in reserve below)."""
        return self.turn.status == "streaming" and self.plain

    def _refresh_document(self) -> None:
        if self.document and self.host is not None:
            self.host.refresh_document()

    def refresh_body(self) -> None:
        """Re-render after the turn, the heat map or the cursor changed."""
        if self.document:
            self._refresh_document()
        elif self.is_mounted:
            self._render_body()

    def _render_body(self) -> None:
        if self.document:
            self._refresh_document()
            return
        header = self.query_one(".message-header", Static)
        text = self.header()
        if text != header.content:  # each update asks for a whole-screen layout pass
            header.update(text)
        body = self.query_one(".message-body", Static)
        stream = self.query_one(".message-stream", StreamingText)
        markdown = self.query_one(".message-markdown", Markdown)
        if self.plain:
            self._fill_stream(stream)
            body.display, stream.display, markdown.display = False, True, False
            if self.turn.status != "streaming":
                stream.fit()
            elif not self.paused:  # (paused, it holds no blank rows: set_paused)
                stream.reserve_block()
            self._markdown_state = None
        elif self.token_mode:
            body.update(self._body_text())
            body.display, stream.display, markdown.display = True, False, False
            self._markdown_state = None
        elif self._markdown_state is None:
            self._render_markdown(body, stream, markdown)
        elif self._markdown_state == "ready":
            body.display, stream.display, markdown.display = False, False, True
        note = self.query_one(".error-note", Static)
        error = Text(f"⚠ {safe_line(self.turn.error)}") if self.turn.error else ""
        if error != note.content:
            note.update(error)
        note.display = bool(self.turn.error)

    def _fill_stream(self, stream: StreamingText) -> None:
        """Bring the StreamingText up to the turn's steps (their text, as render_steps shows:
        ``turn.content`` may differ, e.g. a stop string is cut from it)."""
        turn = self.turn
        if stream.turn_id != turn.id or stream.token_count > len(turn.steps):
            stream.clear()
            stream.turn_id = turn.id
        start = stream.token_count
        if start < len(turn.steps):
            stream.append_tokens([(step.text, start + n) for n, step in enumerate(turn.steps[start:])])

    def _render_markdown(self, body: Static, stream: StreamingText, markdown: Markdown) -> None:
        """Render the finished reply as Markdown, showing its plain text until that is done.

        The Markdown's blocks are mounted over several frames, a few paragraphs at a time
        (widgets/markdown_parts.py): swapping at once would leave the reply one header high
        for a few frames, and the conversation, clamped to that, would stay scrolled up when
        the blocks arrive (the reply's end off-screen)."""
        self._markdown_state = "pending"
        self._markdown_round += 1
        update = update_in_parts(markdown, safe_text(self.turn.content) or "_(empty reply)_")
        if stream.display and stream.text:
            stream.fit()  # the streamed text stays until the Markdown is in
        else:
            body.update(Text(safe_text(self.turn.content)))
            body.display, stream.display = True, False
        markdown.display = False
        self.run_worker(self._show_markdown(update, self._markdown_round), exit_on_error=False)

    async def _show_markdown(self, update: Any, round_: int) -> None:
        await update
        if self._markdown_state != "pending" or round_ != self._markdown_round or not self.is_mounted:
            return  # the view changed meanwhile (heat map, cursor): that rendering wins
        self._markdown_state = "ready"
        body = self.query_one(".message-body", Static)
        stream = self.query_one(".message-stream", StreamingText)
        markdown = self.query_one(".message-markdown", Markdown)
        body.display, stream.display, markdown.display = False, False, True
        stream.clear()
        if self.host is not None:
            self.host.keep_end_in_view()

    def append_steps(self, steps: list[TokenStep]) -> None:
        """Streaming: the reply grew (the steps are already on the turn)."""
        if self.document:
            self._refresh_document()
            return
        try:
            if self.plain:
                stream = self.query_one(".message-stream", StreamingText)
                if not stream.display:
                    self.refresh_body()
                    return
                self._fill_stream(stream)  # (the steps are on the turn already)
                return
            body = self.query_one(".message-body", Static)
        except NoMatches:
            return  # not composed yet (or being removed): its mount shows the whole turn
        body.update(self._body_text())

    def end_row(self) -> tuple[Widget, int]:
        """A widget and how many of its rows hold text: what to follow to see the reply's end."""
        if self.document and self.host is not None:
            return self.host.document_end()
        if self.streaming_plain:
            try:
                stream = self.query_one(".message-stream", StreamingText)
                if stream.display:
                    return stream, stream.text_rows
            except NoMatches:
                pass
        return self, self.outer_size.height
