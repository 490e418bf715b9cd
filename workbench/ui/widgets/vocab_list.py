"""A virtual list of vocabulary entries: "id, label, kind", one token per line.

Built on the Line API: the virtual height is the number of rows and ``render_line`` draws
only the rows on screen, so a 262,144-entry vocabulary scrolls like a ten-entry one. The
rows are any ``Sequence[int]`` of ids (a ``range`` for the whole vocabulary, a list of
matches), so nothing is copied per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.engine.tokens import TokenTable
from workbench.safetext import safe_line

KIND_WIDTH = 7  # len("special")
MAX_LABEL_WIDTH = 64  # on a wide screen the kind column stays near the label


class VocabList(ScrollView, can_focus=True):
    """Scrollable, cursor-driven list of token ids with their labels and kinds."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Previous token", show=False),
        Binding("down", "cursor(1)", "Next token", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First token", show=False),
        Binding("end", "last", "Last token", show=False),
    ]

    COMPONENT_CLASSES = {
        "vocab-list--cursor",
        "vocab-list--id",
        "vocab-list--bytes",
        "vocab-list--special",
        "vocab-list--kind",
    }

    DEFAULT_CSS = """
    VocabList {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    VocabList > .vocab-list--cursor { background: $block-cursor-blurred-background; }
    VocabList:focus > .vocab-list--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    VocabList > .vocab-list--id { color: $text-muted; }
    VocabList > .vocab-list--kind { color: $text-muted; }
    VocabList > .vocab-list--bytes { color: $warning; text-style: italic; }
    VocabList > .vocab-list--special { color: $error; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, init=False)
    """Index into the rows (not a token id)."""

    class CursorMoved(Message):
        """The cursor is on a new row; ``token_id`` is None when the list is empty."""

        def __init__(self, vocab_list: VocabList, token_id: int | None) -> None:
            super().__init__()
            self.vocab_list = vocab_list
            self.token_id = token_id

        @property
        def control(self) -> VocabList:
            return self.vocab_list

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._table: TokenTable | None = None
        self._ids: Sequence[int] = ()

    # --- public ------------------------------------------------------------------------

    @property
    def table(self) -> TokenTable | None:
        return self._table

    @property
    def ids(self) -> Sequence[int]:
        return self._ids

    @property
    def row_count(self) -> int:
        return len(self._ids)

    @property
    def cursor_id(self) -> int | None:
        return self._ids[self.cursor] if 0 <= self.cursor < len(self._ids) else None

    def set_rows(self, table: TokenTable | None, ids: Sequence[int]) -> None:
        """Show ``ids`` (of ``table``) and put the cursor on the first row."""
        self._table = table
        self._ids = ids if table is not None else ()
        self.virtual_size = Size(self._width(), len(self._ids))
        self.scroll_home(animate=False)
        self.set_reactive(VocabList.cursor, 0)
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor_id))

    def row_text(self, row: int) -> str:
        """Row ``row`` as plain text, as drawn at the current width."""
        width = self._width() or 80
        return "".join(segment.text for segment in self._row_segments(row, width, None, cursor=False))

    # --- keys and mouse ----------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self._viewport().height - 1))

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self._ids) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self._move_to(int(self.scroll_offset.y) + offset.y)

    def _move_to(self, row: int) -> None:
        if self._ids:
            self.cursor = max(0, min(row, len(self._ids) - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh_lines(old)
        self.refresh_lines(new)
        self.post_message(self.CursorMoved(self, self.cursor_id))

    def _scroll_to_cursor(self) -> None:
        height = self._viewport().height
        if not height:  # not laid out yet (a hidden tab): on_resize calls again
            return
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def on_resize(self) -> None:
        self.virtual_size = Size(self._width(), len(self._ids))
        self._scroll_to_cursor()

    # --- drawing -----------------------------------------------------------------------

    def _viewport(self) -> Size:
        """The drawable size: from ``size``, which (unlike ``region``) does not wait for the compositor."""
        return Region(0, 0, *self.size).shrink(self.styles.gutter).shrink(self.scrollbar_gutter).size

    def _width(self) -> int:
        return self._viewport().width

    def _row_segments(self, row: int, width: int, base: Style | None, cursor: bool) -> list[Segment]:
        table = self._table
        if table is None or not 0 <= row < len(self._ids):
            return []
        token_id = self._ids[row]
        try:
            info = table.info(token_id)
            label, kind = safe_line(info.label), info.kind
        except ValueError:  # an id the tokenizer does not know (a stale row)
            label, kind = "?", "text"
        id_width = len(str(max(table.size - 1, 0)))
        label_width = max(1, min(MAX_LABEL_WIDTH, width - id_width - KIND_WIDTH - 4))
        if cell_len(label) > label_width:
            label = set_cell_size(label, label_width - 1) + "\u2026"
        label = set_cell_size(label, label_width)

        def style(name: str) -> Style | None:
            if base is None or cursor:  # the cursor's colours win, so its row stays legible
                return base
            return base + self.get_component_rich_style(name, partial=True)

        label_style = {"bytes": "vocab-list--bytes", "special": "vocab-list--special"}.get(kind)
        return [
            Segment(f"{token_id:>{id_width}}  ", style("vocab-list--id")),
            Segment(label, style(label_style) if label_style else base),
            Segment(f"  {kind:>{KIND_WIDTH}}", style(label_style or "vocab-list--kind")),
        ]

    def render_line(self, y: int) -> Strip:
        width = self._width()
        row = int(self.scroll_offset.y) + y
        base = self.rich_style
        if row == self.cursor and self._ids:
            base = base + self.get_component_rich_style("vocab-list--cursor")
        segments = self._row_segments(row, width, base, cursor=row == self.cursor)
        if not segments:
            return Strip.blank(width, self.rich_style)
        return Strip(segments).adjust_cell_length(width, base)
