"""The Sessions screen: every saved conversation, newest first; search, open, rename,
duplicate, delete.

The app pushes ``SessionsScreen(store, current_session_id)`` and its callback receives the
id of the session to open, or None when the user closed the screen.

A store can hold tens of thousands of sessions, so the list never holds them all: it shows a
window of ``WINDOW`` rows around the cursor and fetches a new window (one indexed query,
under a millisecond) whenever the cursor comes within ``MARGIN`` rows of a loaded edge.
Home and End jump straight to either end of the whole list.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date, datetime
from itertools import accumulate
from typing import TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, OptionList, Static

from workbench.engine.errors import WorkbenchError
from workbench.safetext import safe_line
from workbench.sessions.records import SessionSummary
from workbench.sessions.snippets import snippet_text
from workbench.sessions.store import SessionStore
from workbench.ui.screens.dialogs import ConfirmScreen, RenameScreen

T = TypeVar("T")

WINDOW = 300  # rows held by the list at once
MARGIN = 50  # refetch when the cursor is this close to a loaded edge (more than a page)
SEARCH_DELAY = 0.15  # seconds of quiet typing before the search runs
CURRENT_MARK = "●"
SNIPPET_INDENT = 4

# Column widths (cells) to the right of the title; the title takes what is left and the
# model column a quarter of the width, within these bounds.
MODEL_MIN, MODEL_MAX, COUNT_WIDTH, DATE_WIDTH, GAP = 12, 24, 5, 16, 2


def format_updated(timestamp: float, today: date | None = None) -> str:
    """Unix seconds -> local "today 16:05" or "2026-11-29 16:05" ("?" when out of range)."""
    try:
        moment = datetime.fromtimestamp(timestamp)
    except (OverflowError, OSError, ValueError):  # an imported file can hold anything
        return "?"
    if moment.date() == (today or date.today()):
        return f"today {moment:%H:%M}"
    return f"{moment:%Y-%m-%d %H:%M}"


def _columns(width: int) -> tuple[int, int]:
    """(title width, model width) for a row ``width`` cells wide: the model column goes
    first when the screen is narrow, so the title keeps at least ~20 cells."""
    fixed = 2 + GAP + COUNT_WIDTH + GAP + DATE_WIDTH  # mark + count + date
    model = max(MODEL_MIN, min(MODEL_MAX, width // 4))
    model = model if width - fixed - GAP - model >= 20 else 0
    title = max(8, width - fixed - (GAP + model if model else 0))
    return title, model


def _cell(text: Text | str, width: int, *, left_cut: bool = False, right: bool = False) -> Text:
    """``text`` fitted to exactly ``width`` cells. ``left_cut`` keeps the end (model paths
    and hub ids differ in their last part); ``right`` aligns numbers."""
    cell = text if isinstance(text, Text) else Text(text)
    if left_cut and cell.cell_len > width:
        keep = cell.plain
        while keep and Text("…" + keep).cell_len > width:
            keep = keep[1:]
        cell = Text("…" + keep)
    cell = cell.copy()
    cell.truncate(width, overflow="ellipsis")
    if right:
        cell.pad_left(width - cell.cell_len)
    else:
        cell.pad_right(width - cell.cell_len)
    return cell


def session_row(
    summary: SessionSummary, width: int, *, current: bool = False, today: date | None = None
) -> Text:
    """One row of the list: mark, title, model, message count and date on one line, then the
    search snippet (when there is one) on a second line. Every line fits ``width`` cells."""
    title_width, model_width = _columns(width)
    title = Text(safe_line(summary.title)) if summary.title else Text("(untitled)", style="dim italic")
    parts = [Text(CURRENT_MARK + " ", style="bold") if current else Text("  "), _cell(title, title_width)]
    if model_width:
        parts += [
            Text(" " * GAP),
            _cell(Text(safe_line(summary.model), style="dim"), model_width, left_cut=True),
        ]
    parts += [
        Text(" " * GAP),
        _cell(str(summary.message_count), COUNT_WIDTH, right=True),
        Text(" " * GAP),
        _cell(format_updated(summary.updated, today), DATE_WIDTH),
    ]
    row = Text().join(parts)
    if current:
        row.stylize("bold")
    if summary.snippet is not None:
        snippet = _cell(snippet_text(summary.snippet, summary.snippet_spans), max(1, width - SNIPPET_INDENT))
        row.append("\n" + " " * SNIPPET_INDENT)
        row.append_text(snippet)
    return row


def header_row(width: int) -> Text:
    title_width, model_width = _columns(width)
    parts = [Text("  "), _cell("Title", title_width)]
    if model_width:
        parts += [Text(" " * GAP), _cell("Model", model_width)]
    parts += [
        Text(" " * GAP),
        _cell("Msgs", COUNT_WIDTH, right=True),
        Text(" " * GAP),
        _cell("Updated", DATE_WIDTH),
    ]
    return Text().join(parts)


class SessionList(OptionList):
    """A window of ``WINDOW`` sessions out of ``total``; ``start`` is the position of the
    first loaded row in the whole (searched) list. ``fetch(offset, limit)`` reads rows (None
    when the store failed: the window stays as it was)."""

    BINDINGS = [
        Binding("enter", "select", "Open"),
        Binding("r", "screen.rename", "Rename"),
        Binding("d", "screen.duplicate", "Duplicate"),
        Binding("delete,x", "screen.delete", "Delete"),
    ]
    DEFAULT_CSS = """
    SessionList { height: 1fr; max-height: 100%; scrollbar-gutter: stable; }
    """

    def __init__(
        self,
        fetch: Callable[[int, int], list[SessionSummary] | None],
        current_id: int | None,
        *,
        on_layout: Callable[[int], None] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, markup=False)
        self.fetch = fetch
        self.on_layout = on_layout  # told the row width, e.g. to align a header with the rows
        self.current_id = current_id
        self.rows: list[SessionSummary] = []
        self.start = 0
        self.total = 0

    # -- the window ---------------------------------------------------------------------

    @property
    def position(self) -> int | None:
        """The highlighted row's position in the whole list."""
        return None if self.highlighted is None else self.start + self.highlighted

    @property
    def summary(self) -> SessionSummary | None:
        index = self.highlighted
        return self.rows[index] if index is not None and index < len(self.rows) else None

    def load(self, total: int, at: int, keep_id: int | None = None) -> bool:
        """Fetch the window around position ``at`` and highlight it, or the row of
        ``keep_id`` when that is in the window. False when the store failed."""
        return self._load(total, at, keep_id, screen_row=None)

    def _load(self, total: int, at: int, keep_id: int | None, screen_row: int | None) -> bool:
        at = max(0, min(at, total - 1))
        start = max(0, min(at - WINDOW // 2, total - WINDOW))
        rows = self.fetch(start, WINDOW)
        if rows is None:
            return False
        if len(rows) < WINDOW:  # the count was taken a moment earlier: trust the rows
            total = start + len(rows)
        self.rows, self.start, self.total = rows, start, total
        ids = [row.id for row in rows]
        index = ids.index(keep_id) if keep_id in ids else at - start
        self._render_rows(max(0, min(index, len(rows) - 1)) if rows else None, screen_row)
        return True

    def _render_rows(self, index: int | None, screen_row: int | None = None) -> None:
        width = self.scrollable_content_region.width or max(20, self.app.size.width - 6)
        today = date.today()
        if self.on_layout is not None:
            self.on_layout(width)
        self.set_options(
            session_row(row, width, current=row.id == self.current_id, today=today) for row in self.rows
        )
        self.highlighted = index
        if index is not None and screen_row is not None:
            # Keep the cursor on the same screen line, so moving the window does not jump.
            self.scroll_to(y=max(0, self._line_of(index) - screen_row), animate=False, immediate=True)
        self._update_subtitle()

    def _line_of(self, index: int) -> int:
        """The first line of row ``index`` (rows with a snippet take two lines)."""
        return sum(2 if row.snippet is not None else 1 for row in self.rows[:index])

    def _update_subtitle(self) -> None:
        position = self.position
        self.border_subtitle = f"{position + 1:,} / {self.total:,}" if position is not None else ""

    def _shift_if_near_edge(self) -> None:
        index = self.highlighted
        if index is None:
            return
        near_end = index >= len(self.rows) - MARGIN and self.start + len(self.rows) < self.total
        near_start = index < MARGIN and self.start > 0
        if near_end or near_start:
            screen_row = self._line_of(index) - int(self.scroll_y)
            self._load(self.total, self.start + index, self.rows[index].id, screen_row)

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        self._update_subtitle()
        # After this move has been handled: a refetch replaces the options being watched.
        self.call_later(self._shift_if_near_edge)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.call_later(self._follow_scroll)

    def _follow_scroll(self) -> None:
        """The wheel or the scrollbar moves the view without the cursor: move the window
        when the view nears its edge, so scrolling is not stopped at the end of a window."""
        if not self.rows:
            return
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        starts = list(accumulate((2 if row.snippet is not None else 1 for row in self.rows), initial=0))
        near_end = top + height >= starts[-1] - MARGIN
        if not ((near_end and self.start + len(self.rows) < self.total) or (top < MARGIN and self.start > 0)):
            return
        index = self.highlighted
        if index is None or not top <= starts[index] < top + height:
            # The cursor is off screen and may leave the window: it moves to the top row.
            index = min(bisect_right(starts, top) - 1, len(self.rows) - 1)
        screen_row = starts[index] - top
        self._load(self.total, self.start + index, self.rows[index].id, screen_row)

    def on_resize(self, event: events.Resize) -> None:
        # Rows are laid out for a width: lay them out again, keeping cursor and scroll.
        if self.rows:
            scroll = int(self.scroll_y)
            self._render_rows(self.highlighted)
            self.scroll_to(y=scroll, animate=False, immediate=True)

    # -- keys over the whole list, not just the window -----------------------------------

    def action_first(self) -> None:
        if self.start > 0:
            self.load(self.total, 0)
        else:
            super().action_first()

    def action_last(self) -> None:
        if self.start + len(self.rows) < self.total:
            self.load(self.total, self.total - 1)
        else:
            super().action_last()

    def action_cursor_down(self) -> None:
        # No wrapping round: the first row of a window is not the first of the list.
        if self.highlighted is None or self.highlighted < len(self.rows) - 1:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.highlighted is None or self.highlighted > 0:
            super().action_cursor_up()


class SessionsScreen(Screen[int | None]):
    """Browse saved sessions. Dismisses with the id of the session to open, or None."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("slash", "focus_search", "Search"),
    ]
    DEFAULT_CSS = """
    SessionsScreen { layout: vertical; }
    SessionsScreen #sessions-count { height: 1; padding: 0 2; color: $text-muted; }
    SessionsScreen #sessions-header { height: 1; padding: 0 2; text-style: bold; color: $text-muted; }
    """

    def __init__(self, store: SessionStore, current_session_id: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.current_session_id = current_session_id
        self.search = ""
        self.deleted_ids: list[int] = []  # for the app: was the session it shows deleted?
        self.opened_hit: int | None = None  # for the app: the message a search hit opened
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search messages and titles  (/)", id="sessions-search")
        yield Static("", id="sessions-count", markup=False)
        yield Static("", id="sessions-header", markup=False)
        yield SessionList(
            self._fetch, self.current_session_id, on_layout=self._layout_header, id="sessions-list"
        )
        yield Footer()

    @property
    def session_list(self) -> SessionList:
        return self.query_one("#sessions-list", SessionList)

    def on_mount(self) -> None:
        self.session_list.focus()
        self.refresh_list(keep_id=self.current_session_id)

    def _layout_header(self, width: int) -> None:
        self.query_one("#sessions-header", Static).update(header_row(width))

    # -- reading the store ------------------------------------------------------------------

    def _guard(self, action: Callable[[], T], what: str) -> tuple[bool, T | None]:
        """Run a store call; a WorkbenchError becomes an error notification, not a crash."""
        try:
            return True, action()
        except WorkbenchError as exc:
            self.notify(safe_line(str(exc)), title=what, severity="error", timeout=10, markup=False)
            return False, None

    def _fetch(self, offset: int, limit: int) -> list[SessionSummary] | None:
        search = self.search or None
        ok, rows = self._guard(
            lambda: self.store.list_sessions(search, limit=limit, offset=offset), "Could not list sessions"
        )
        return rows if ok else None

    def refresh_list(self, *, at: int = 0, keep_id: int | None = None) -> None:
        """Count and refetch, highlighting ``keep_id`` if it is near position ``at`` (every
        change moves a session to the top, so ``at=0`` finds it), else position ``at``."""
        search = self.search or None
        ok, counts = self._guard(
            lambda: (self.store.count_sessions(search), self.store.count_sessions() if search else 0),
            "Could not count sessions",
        )
        if not ok or counts is None:
            return
        total, everything = counts
        self.session_list.load(total, at, keep_id)
        if search:
            label = f"{total:,} of {everything:,} sessions match"
        else:
            label = f"{total:,} session" + ("" if total == 1 else "s")
        self.query_one("#sessions-count", Static).update(Text(label))

    # -- search -----------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "sessions-search":
            return
        event.stop()
        # Debounced: a query per keystroke would be cheap, a rebuilt list per keystroke not.
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, lambda: self._apply_search(event.value))

    def _apply_search(self, value: str) -> None:
        self._search_timer = None
        if value.strip() == self.search:
            return
        self.search = value.strip()
        summary = self.session_list.summary
        self.refresh_list(keep_id=summary.id if summary else None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in the search box opens the highlighted hit, as in a command palette.
        if event.input.id != "sessions-search":
            return
        event.stop()
        if self._search_timer is not None:  # typed and pressed Enter at once: search first
            self._search_timer.stop()
            self._apply_search(event.value)
        self.action_open()

    def on_key(self, event: events.Key) -> None:
        if event.key == "down" and self.focused is self.query_one("#sessions-search", Input):
            event.stop()
            self.session_list.focus()

    # -- actions ----------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        summary = self.session_list.summary
        if summary is not None:
            self.opened_hit = summary.hit_id if self.search else None
            self.dismiss(summary.id)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_focus_search(self) -> None:
        self.query_one("#sessions-search", Input).focus()

    def action_rename(self) -> None:
        summary = self.session_list.summary
        if summary is None:
            return

        def renamed(title: str | None) -> None:
            if title is None:
                return
            ok, _ = self._guard(lambda: self.store.rename(summary.id, title), "Could not rename the session")
            if ok:
                self.refresh_list(keep_id=summary.id)  # renaming makes it the newest: near the top

        self.app.push_screen(RenameScreen(summary.title), renamed)

    def action_duplicate(self) -> None:
        summary = self.session_list.summary
        if summary is None:
            return
        ok, new_id = self._guard(lambda: self.store.duplicate(summary.id), "Could not duplicate the session")
        if ok:
            self.refresh_list(keep_id=new_id)  # the copy is the newest session: near the top
            self.notify(f"Copied “{_short(summary.title)}”", markup=False)

    def action_delete(self) -> None:
        summary = self.session_list.summary
        if summary is None:
            return
        position = self.session_list.position or 0
        count = summary.message_count
        message = Text.assemble(
            f"Delete “{_short(summary.title)}”? ",
            f"Its {count} message is" if count == 1 else f"Its {count} messages are",
            " removed for good.",
        )

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            ok, _ = self._guard(lambda: self.store.delete(summary.id), "Could not delete the session")
            if not ok:
                return
            self.deleted_ids.append(summary.id)
            if summary.id == self.current_session_id:
                self.current_session_id = self.session_list.current_id = None
            self.refresh_list(at=position)  # the cursor lands on the next session

        self.app.push_screen(ConfirmScreen(message), confirmed)


def _short(title: str, length: int = 60) -> str:
    """A title for a sentence (plain text, safe): cut to ``length`` characters, "untitled"
    when empty."""
    text = safe_line(title) or "untitled"
    return text if len(text) <= length else text[: length - 1] + "…"
