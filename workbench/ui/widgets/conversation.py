"""The conversation: one MessageView per turn of the active branch, and a token cursor.

One rule for how a reply looks, whether it is streaming, finished or resumed from a saved
session: the text exactly as the model wrote it, token by token (a click or a hover on a token
shows its candidates). ``m`` turns on the Markdown view, which renders finished and resumed
replies as Markdown (a streaming reply stays plain text until it ends: re-rendering Markdown
~20 times a second falls behind). Completion mode is never Markdown: the prompt and its
continuations are one plain running document (DocumentView).
"""

from __future__ import annotations

import contextlib

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from workbench.conversation import Turn
from workbench.engine.steps import TokenStep
from workbench.safetext import safe_text
from workbench.ui.widgets.conversation_copy import CopyActions
from workbench.ui.widgets.heat_legend import HeatLegend
from workbench.ui.widgets.message_view import COMPLETION_TITLES, ROLE_TITLES, MessageView
from workbench.ui.widgets.system_prompt_line import SystemPromptLine


class MoreBelow(Static):
    """ "↓ more": the conversation goes on below the window (the user scrolled away from the end)."""

    def __init__(self) -> None:
        super().__init__("↓ more (End)", id="more-below")
        self.display = False

    def on_click(self, event: events.Click) -> None:
        event.stop()
        if isinstance(self.parent, ConversationView):
            self.parent.action_scroll_to_end()


class DocumentView(Widget):
    """Completion mode: the prompt and its continuations as one plain running text (no
    Markdown, no blocks: a continuation goes on from the last character before it), with a
    status line under it. The MessageViews stay mounted but hidden: they keep each turn's
    token cursor, and this renders them all."""

    DEFAULT_CSS = """
    DocumentView { height: auto; padding: 0 1; display: none; }
    DocumentView .document-text { height: auto; }
    DocumentView .document-status { height: 1; color: $text-muted; }
    """
    PROMPT_STYLE = Style(bold=True)  # the user's text; continuations are the model's

    def compose(self) -> ComposeResult:
        yield Static("", classes="document-text")
        yield Static("", classes="document-status")

    def show(self, views: list[MessageView]) -> None:
        text = Text()
        for view in views:
            turn = view.turn
            if turn.is_reply and turn.steps:
                text.append_text(view._body_text())
            else:
                text.append(safe_text(turn.content), None if turn.is_reply else self.PROMPT_STYLE)
        with contextlib.suppress(NoMatches):
            self.query_one(".document-text", Static).update(text)
            self.query_one(".document-status", Static).update(views[-1].header() if views else "")


class ConversationView(CopyActions, VerticalScroll, can_focus=True):
    """Focus it to move a cursor over the tokens of the replies; v, y and Y copy parts of them."""

    BINDINGS = [
        Binding("left", "token(-1)", "Prev token", show=False),
        Binding("right", "token(1)", "Next token", show=False),
        Binding("up", "message(-1)", "Prev reply", show=False),
        Binding("down", "message(1)", "Next reply", show=False),
        Binding("home", "token_edge(0)", "First token", show=False),
        Binding("end", "token_edge(1)", "Last token", show=False),
        Binding("left_square_bracket", "app.sibling(-1)", "Prev branch"),
        Binding("right_square_bracket", "app.sibling(1)", "Next branch"),
        Binding("e", "app.edit_selected", "Edit message"),
        Binding("c", "app.compare_branches", "Compare branches"),
        Binding("s", "toggle_system", "System prompt", show=False),
        # conversation_copy.py: v marks a token, y copies from the mark (else the reply), Y a code block
        Binding("y", "copy_selection", "Copy"),
        Binding("Y", "copy_code_block", "Copy code block", show=False),
        Binding("v", "toggle_mark", "Mark tokens (move, then y)", show=False),
        Binding("m", "toggle_markdown", "Markdown"),
        Binding("l", "app.logit_lens", "Logit lens"),
        *[
            Binding(str(n), f"app.branch_candidate({n})", f"Branch with candidate {n}", show=False)
            for n in range(1, 10)
        ],
    ]

    DEFAULT_CSS = """
    ConversationView { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    ConversationView:focus { border-left: wide $accent; }
    ConversationView .empty-hint { color: $text-muted; padding: 1 2; }
    ConversationView #more-below {
        dock: bottom; width: auto; height: 1; padding: 0 1; offset-x: 1;
        background: $accent; color: $text; text-style: bold;
    }
    ConversationView #more-below:hover { background: $accent-lighten-1; }
    """

    class TokenSelected(Message):
        """The token cursor moved onto a token of a reply (or left: step None)."""

        def __init__(self, turn: Turn | None, step: TokenStep | None) -> None:
            super().__init__()
            self.turn = turn
            self.step = step

    class TokenHovered(Message):
        """The mouse rests on a token of a reply (or left the tokens: step None)."""

        def __init__(self, turn: Turn | None, step: TokenStep | None) -> None:
            super().__init__()
            self.turn = turn
            self.step = step

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.heatmap = False
        self.titles = ROLE_TITLES
        self.markdown = False  # the Markdown view of finished replies (m)
        self.document_mode = False  # completion mode: one running document
        self._selected: MessageView | None = None
        self._hovered: tuple[MessageView, int] | None = None
        self._focus_from_token_click = False
        self.following = True  # keep the last reply's end in view (off while the user looks above)
        self._more = MoreBelow()

    def compose(self) -> ComposeResult:
        yield HeatLegend(classes="heat-legend")
        yield self._more
        yield SystemPromptLine()
        yield DocumentView()
        yield Static(
            Text("Type a message below and press Enter. Tab here to move a cursor over the reply's tokens."),
            classes="empty-hint",
        )

    # --- content ------------------------------------------------------------------

    @property
    def system_line(self) -> SystemPromptLine:
        return self.query_one(SystemPromptLine)

    def action_toggle_system(self) -> None:
        line = self.system_line
        if line.display:
            line.toggle()
            self.scroll_to_widget(line, animate=False, top=True)

    def views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    @property
    def document(self) -> DocumentView:
        return self.query_one(DocumentView)

    def document_end(self) -> tuple[Widget, int]:
        document = self.document
        return document, document.outer_size.height

    def refresh_document(self) -> None:
        """Completion mode: re-render the running document from the (hidden) views."""
        if self.document_mode:
            self.document.show([v for v in self.query(MessageView) if not v._closing and not v._pruning])

    def view_for(self, turn_id: int) -> MessageView | None:
        for view in self.query(MessageView):
            if view.turn.id == turn_id:
                return view
        return None

    def show_turns(self, turns: list[Turn], branches: dict[int, tuple[int, int]] | None = None) -> None:
        """Replace the content with these turns (a loaded session, a switched branch)."""
        self._selected = None
        self._hover(None)
        for view in self.query(MessageView):
            view.remove()
        branches = branches or {}
        for turn in turns:
            if turn.role != "system":
                self.mount(self._new_view(turn, branches.get(turn.id, (1, 1))))
        self._update_hint()
        self.refresh_document()
        self.action_scroll_to_end()

    def add_turn(self, turn: Turn, branch: tuple[int, int] = (1, 1)) -> MessageView:
        view = self._new_view(turn, branch)
        self.mount(view)
        self._update_hint()
        self.action_scroll_to_end()
        return view

    def _new_view(self, turn: Turn, branch: tuple[int, int]) -> MessageView:
        return MessageView(
            turn, self.heatmap, branch, self.titles, self.markdown, self.document_mode, host=self
        )

    def follow(self, widget: Widget, rows: int) -> None:
        """Keep row ``rows - 1`` of ``widget`` (a descendant) in view, scrolling in jumps.

        Unlike ``scroll_end`` it ignores rows the widget reserves below its text. When the row
        leaves the window, the view moves a quarter of its height past it (Vim's 'scrolljump'):
        each scroll repaints the whole conversation (20-50 ms here), so a reply scrolls once per
        few lines rather than once per line. The rows shown below the text are reserved blanks.
        """
        height = self.scrollable_content_region.height
        top = widget.region.y - self.content_region.y + round(self.scroll_y)
        target = top + rows - height
        if target > self.scroll_y:
            self.scroll_to(y=target + max(0, height // 4 - 1), animate=False)

    # --- following the end ----------------------------------------------------------
    # The view follows the last reply's end while the user leaves it there. Scrolling up
    # (wheel, keys, scrollbar, the token cursor) stops it
    # and shows "↓ more"; coming back to the end (or clicking "↓ more", or End) resumes it.

    def _end_below(self) -> int:
        """Rows of the last reply's text below the window (0: its end is in view)."""
        end = self._last_end()
        if end is None:
            return 0
        top, rows = end
        return max(0, top + rows - round(self.scroll_y) - self.scrollable_content_region.height)

    def _last_end(self) -> tuple[int, int] | None:
        """Where the last reply's text starts inside the scrolled content (independent of the
        scroll position) and how many rows it fills; None without messages."""
        views = self.query(MessageView)
        if not views:
            return None
        if self.document_mode:
            document = self.document
            return document.virtual_region.y, document.outer_size.height
        last = views.last()
        widget, rows = last.end_row()
        return last.virtual_region.y + (widget.region.y - last.region.y), rows

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) == round(new_value):
            return
        if new_value < old_value and round(new_value) < round(self.max_scroll_y):
            # the user moved up (not a clamp to a shorter content, which lands on the new
            # maximum): stop following, even while the end is still in view, which it is for a
            # few rows after each jump of ``follow``; a move down never stops it (a streaming
            # reply's newest row may not be laid out yet)
            self._set_following(False)
        elif self._end_below() == 0:
            self._set_following(True)

    def _set_following(self, on: bool) -> None:
        self.following = on
        self._more.display = not on

    def keep_end_in_view(self) -> None:
        """The last reply changed height (rendered as Markdown): show its end again, if followed."""
        if self.following:
            self.call_after_refresh(self._scroll_to_last_end)

    def focus_on_click(self) -> bool:
        """A click on "↓ more" scrolls; it does not focus the view (that would put the token
        cursor on the reply and show it token by token). A click on a token focuses the view
        with the cursor on that token (``on_click``), not on the last one."""
        try:
            widget, _ = self.screen.get_widget_at(*self.app.mouse_position)
        except Exception:  # noqa: BLE001 - no widget there: the default
            return True
        if isinstance(widget, MoreBelow):
            return False
        if not self.has_focus:
            style = self.screen.get_style_at(*self.app.mouse_position)
            self._focus_from_token_click = self._token_at(style) is not None
        return True

    # --- the mouse on tokens ------------------------------------------------------------
    # Reply tokens carry {"turn": id, "token": index} as style meta (render_steps), which
    # Textual puts on mouse events as ``event.style.meta``.

    def _token_at(self, style: Style) -> tuple[MessageView, int] | None:
        meta = style.meta
        if "token" not in meta or "turn" not in meta:
            return None
        view = self.view_for(meta["turn"])
        if view is None or not 0 <= meta["token"] < len(view.turn.steps):
            return None
        return view, meta["token"]

    def on_mouse_down(self, event: events.MouseDown) -> None:
        # On the press, not the click: focusing the view draws its left border, which moves
        # the text two cells to the right before the button is released.
        hit = self._token_at(event.style)
        if hit is not None:
            event.stop()
            self._hovered = None  # a move on from here previews again
            if not self.has_focus:
                self.focus(scroll_visible=False)
            self._select(*hit)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._hover(self._token_at(event.style))

    def on_leave(self, event: events.Leave) -> None:
        over = self.app.mouse_over
        if over is None or (over is not self and self not in over.ancestors):
            self._hover(None)

    def _hover(self, hit: tuple[MessageView, int] | None) -> None:
        if hit == self._hovered:
            return
        self._hovered = hit
        if hit is None:
            self.post_message(self.TokenHovered(None, None))
        else:
            view, index = hit
            self.post_message(self.TokenHovered(view.turn, view.turn.steps[index]))

    def action_scroll_to_end(self) -> None:
        """Back to the end of the conversation, following it again."""
        self._set_following(True)
        self._scroll_to_last_end()
        self.call_after_refresh(self._scroll_to_last_end)  # again once new content is laid out

    def _scroll_to_last_end(self) -> None:
        """Scroll so that the last reply's last row of text is the window's last row (a
        streaming reply's reserved blank rows stay below; the last message's margin shows)."""
        views = self.query(MessageView)
        if not views or views.last().streaming_plain is False:
            self.scroll_end(animate=False, immediate=True)
            return
        end = self._last_end()
        if end is None:
            return
        top, rows = end
        target = max(0, top + rows - self.scrollable_content_region.height)
        self.scroll_to(y=target, animate=False, immediate=True)

    def _update_hint(self) -> None:
        self.query_one(".empty-hint").display = not self.query(MessageView)

    def set_completion_mode(self, on: bool) -> None:
        """Completion mode shows the turns as one running document (DocumentView)."""
        self.titles = COMPLETION_TITLES if on else ROLE_TITLES
        self.document_mode = on
        self.document.display = on
        for view in self.query(MessageView):
            view.titles = self.titles
            view.document = on
            view.display = not on
            view.refresh_body()
        self.refresh_document()

    def action_toggle_markdown(self) -> None:
        self.set_markdown(not self.markdown)
        if self.document_mode:
            self.notify("Completion mode shows plain text (the Markdown view is for chat mode).")
        elif self.markdown:
            self._select(None, None)  # the token cursor shows tokens: lift it to show the Markdown
            self.notify("Markdown view: finished replies rendered as Markdown (← → show the tokens again).")
        else:
            self.notify("Plain view: replies exactly as the model wrote them.")

    def set_markdown(self, on: bool) -> None:
        self.markdown = on
        for view in self.query(MessageView):
            view.markdown = on
            view.refresh_body()

    def set_heatmap(self, on: bool) -> None:
        """The heat map on or off (also called again after a theme change: new colours)."""
        self.heatmap = on
        self.query_one(HeatLegend).show(on)
        for view in self.query(MessageView):
            view.heatmap = on
            view.refresh_body()

    # --- the token cursor -----------------------------------------------------------

    def _replies(self) -> list[MessageView]:
        return [v for v in self.query(MessageView) if v.turn.is_reply and v.turn.steps]

    @property
    def selected(self) -> tuple[Turn | None, TokenStep | None]:
        view = self._selected
        if view is None or view.cursor is None or not view.turn.steps:
            return None, None
        return view.turn, view.turn.steps[min(view.cursor, len(view.turn.steps) - 1)]

    def _select(self, view: MessageView | None, cursor: int | None) -> None:
        if self._selected is not None and self._selected is not view:
            self._selected.cursor = self._selected.mark = None
            self._selected.remove_class("selected")
            self._selected.refresh_body()
        self._selected = view
        if view is not None and cursor is not None:
            view.cursor = max(0, min(cursor, len(view.turn.steps) - 1))
            view.add_class("selected")
            view.refresh_body()
            if not view.document:
                self.scroll_to_widget(view, animate=False, top=False)
        turn, step = self.selected
        self.post_message(self.TokenSelected(turn, step))

    def on_focus(self, event: events.Focus) -> None:
        if self._focus_from_token_click:
            self._focus_from_token_click = False
            return  # the click puts the cursor on its token
        if self._selected is None:
            replies = self._replies()
            if replies:
                self._select(replies[-1], len(replies[-1].turn.steps) - 1)

    def on_blur(self, event: events.Blur) -> None:
        self._select(None, None)

    def _cursor_reply(self, replies: list[MessageView]) -> MessageView:
        """The reply holding the cursor, else the last one."""
        return self._selected if self._selected in replies else replies[-1]

    def action_token(self, delta: int) -> None:
        replies = self._replies()
        if not replies:
            return
        view = self._cursor_reply(replies)
        cursor = view.cursor if view.cursor is not None else len(view.turn.steps) - 1
        cursor += delta
        index = replies.index(view)
        if cursor < 0 and index > 0:  # wrap onto the previous reply
            view = replies[index - 1]
            cursor = len(view.turn.steps) - 1
        elif cursor >= len(view.turn.steps) and index < len(replies) - 1:
            view, cursor = replies[index + 1], 0
        self._select(view, cursor)

    def action_message(self, delta: int) -> None:
        replies = self._replies()
        if not replies:
            return
        index = replies.index(self._selected) if self._selected in replies else len(replies)
        index = max(0, min(len(replies) - 1, index + delta))
        self._select(replies[index], 0 if delta > 0 else len(replies[index].turn.steps) - 1)

    def select_turn(self, turn_id: int, index: int) -> None:
        """Put the token cursor on token ``index`` of the reply ``turn_id``."""
        view = self.view_for(turn_id)
        if view is not None and view.turn.steps:
            self._select(view, index)

    def action_token_edge(self, end: int) -> None:
        replies = self._replies()
        if not replies:
            return
        view = self._cursor_reply(replies)
        self._select(view, len(view.turn.steps) - 1 if end else 0)
        if end and view is replies[-1]:
            self.action_scroll_to_end()  # the last token of the last reply: follow the end again
