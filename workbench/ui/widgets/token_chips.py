"""A sequence of tokens drawn as coloured chips, with their ids underneath.

Built on the Line API (``ScrollView`` + ``render_line``): only visible lines are drawn, so a
long prompt of tens of thousands of tokens scrolls as smoothly as a short one. Labels are
drawn as plain segments (never markup) after ``safe_line``, so a token can neither style
the screen nor send an escape sequence to the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.engine.tokens import TokenSpan
from workbench.safetext import safe_line

EMPTY_LABEL = "\u2205"  # ∅: a token that decodes to nothing still gets a visible chip
NEWLINE_MARK = "\u21b5"  # ↵, how labels show a newline: the chips start a new row after it


def chip_label(span: TokenSpan) -> str:
    """The one-line, control-free label drawn for a span."""
    return safe_line(span.label) or EMPTY_LABEL


class TokenChips(ScrollView, can_focus=True):
    """Tokens as chips: alternating backgrounds, byte pieces and special tokens marked."""

    COMPONENT_CLASSES = {
        "token-chips--even",
        "token-chips--odd",
        "token-chips--bytes",
        "token-chips--special",
        "token-chips--id",
        "token-chips--note",
    }

    DEFAULT_CSS = """
    TokenChips {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    TokenChips > .token-chips--even { background: $primary 50%; color: $text; }
    TokenChips > .token-chips--odd { background: $primary 20%; color: $text; }
    TokenChips > .token-chips--bytes { background: $warning 45%; color: $text; text-style: italic; }
    TokenChips > .token-chips--special { background: $error 45%; color: $text; text-style: bold; }
    TokenChips > .token-chips--id { color: $text-muted; }
    TokenChips > .token-chips--note { color: $text-muted; text-style: italic; }
    """

    show_ids: reactive[bool] = reactive(True)
    """Draw each token's id on a second line under its label."""

    def __init__(
        self,
        empty: str = "",
        *,
        break_lines: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._spans: tuple[TokenSpan, ...] = ()
        self._labels: list[str] = []
        self._empty = empty
        self.break_lines = break_lines  # start a new row after a token that ends in a newline
        # Chips of each visual row, for the width they were laid out at.
        self._rows: list[list[int]] = []
        self._layout_key: tuple[int, bool] | None = None

    # --- public ------------------------------------------------------------------------

    @property
    def spans(self) -> tuple[TokenSpan, ...]:
        return self._spans

    def set_spans(self, spans: Sequence[TokenSpan], empty: str | None = None) -> None:
        """Show ``spans``; ``empty`` is the note drawn when there are none."""
        self._spans = tuple(spans)
        self._labels = [chip_label(span) for span in self._spans]
        if empty is not None:
            self._empty = empty
        self._layout_key = None
        self._relayout()
        self.scroll_home(animate=False)
        self.refresh()

    def plain_lines(self, width: int | None = None) -> list[str]:
        """Every line as plain text (what the chips look like without colour)."""
        width = width or self._width() or 80
        if not self._spans:
            return [safe_line(self._empty)]
        rows = self._layout(width)
        per_row = 2 if self.show_ids else 1
        return [
            "".join(seg.text for seg in self._row_segments(rows[n // per_row], n % per_row, width, None))
            for n in range(len(rows) * per_row)
        ]

    # --- layout ------------------------------------------------------------------------

    def _viewport(self) -> Size:
        """The drawable size: from ``size``, which (unlike ``region``) does not wait for the compositor."""
        return Region(0, 0, *self.size).shrink(self.styles.gutter).shrink(self.scrollbar_gutter).size

    def _width(self) -> int:
        return self._viewport().width

    def _chip_width(self, index: int, width: int) -> int:
        label_width = cell_len(self._labels[index])
        if self.show_ids:
            label_width = max(label_width, len(str(self._spans[index].token_id)))
        return max(1, min(label_width, width))

    def _layout(self, width: int) -> list[list[int]]:
        key = (width, self.show_ids)
        if self._layout_key != key:
            rows: list[list[int]] = []
            row: list[int] = []
            x = 0
            for index in range(len(self._spans)):
                chip = self._chip_width(index, width)
                if row and x + chip > width:
                    rows.append(row)
                    row, x = [], 0
                row.append(index)
                x += chip + 1  # one blank cell between chips
                if self.break_lines and self._labels[index].endswith(NEWLINE_MARK):
                    rows.append(row)  # keep the text's line structure visible
                    row, x = [], 0
            if row:
                rows.append(row)
            self._rows, self._layout_key = rows, key
        return self._rows

    def _line_count(self, width: int) -> int:
        if not self._spans:
            return 1
        return len(self._layout(width)) * (2 if self.show_ids else 1)

    def _relayout(self) -> None:
        width = self._width()
        if width > 0:
            self.virtual_size = Size(width, self._line_count(width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._line_count(max(1, width))

    def on_resize(self) -> None:
        self._relayout()

    def watch_show_ids(self) -> None:
        self._relayout()
        self.refresh()

    # --- drawing -----------------------------------------------------------------------

    def _chip_style(self, span: TokenSpan, index: int) -> Style:
        if span.kind == "special":
            name = "token-chips--special"
        elif span.kind == "bytes":
            name = "token-chips--bytes"
        else:
            name = "token-chips--odd" if index % 2 else "token-chips--even"
        return self.get_component_rich_style(name)

    def _row_segments(self, row: list[int], sub: int, width: int, base: Style | None) -> list[Segment]:
        segments: list[Segment] = []
        for n, index in enumerate(row):
            if n:
                segments.append(Segment(" ", base))
            span = self._spans[index]
            chip = self._chip_width(index, width)
            style = None if base is None else self._chip_style(span, index)
            if sub == 0:
                text = self._labels[index]
            else:
                text = str(span.token_id)
                if style is not None:  # the chip's background, the muted id colour
                    style = style + Style(color=self.get_component_rich_style("token-chips--id").color)
            segments.append(Segment(set_cell_size(text, chip), style))
        return segments

    def render_line(self, y: int) -> Strip:
        width = self._width()
        base = self.rich_style
        line = int(self.scroll_offset.y) + y
        if not self._spans:
            if line == 0 and self._empty:
                note = set_cell_size(safe_line(self._empty), width)
                return Strip([Segment(note, self.get_component_rich_style("token-chips--note"))], width)
            return Strip.blank(width, base)
        per_row = 2 if self.show_ids else 1
        rows = self._layout(width)
        row_index, sub = divmod(line, per_row)
        if row_index >= len(rows):
            return Strip.blank(width, base)
        strip = Strip(self._row_segments(rows[row_index], sub, width, base))
        return strip.adjust_cell_length(width, base)
