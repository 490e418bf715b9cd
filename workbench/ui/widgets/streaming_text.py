"""Text that grows at its end, repainted at the cost of what was added.

A ``Static`` re-wraps and re-renders all of its text on every update: fine once, costly ten
times a second for a reply that keeps growing. This widget keeps the wrapped rows it has
already made and re-wraps only the last row of the last paragraph (text added at the end of a
greedy word wrap moves no earlier break: a model that writes one long paragraph made each
update cost more than the last); it repaints only the rows that changed and asks for a layout
pass only when it needs more rows than it has reserved.

A layout pass costs the whole screen's repaint (20-40 ms of the UI thread here, twice that while
the engine thread competes for the GIL: bench/ui.py), so rows are reserved a screen's height at
a time: a 2,000-token reply is laid out a handful of times, not every few lines. The reserved
rows are blank; the conversation follows :attr:`text_rows`, not the widget's height.

A plain reply stays in this widget once it has finished (``fit`` gives the reserved rows back):
re-rendering 2,000 tokens into a ``Static`` at that moment cost ~100 ms of the UI thread. So
each token's cells carry ``{"turn": id, "token": index}`` as style meta, as ``render_steps``
gives them, and the mouse finds tokens here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich._wrap import divide_line  # Text.wrap's own line breaking, from a given offset on
from rich.style import Style
from rich.text import Span, Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from workbench.safetext import safe_text

MIN_RESERVE_ROWS = 8  # at least this many rows kept in hand (a screen's height, when known)


class StreamingText(Widget, can_focus=False):
    DEFAULT_CSS = "StreamingText { height: auto; }"

    def __init__(self, text: str = "", *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.turn_id: int | None = None  # with it, each token's text carries its meta (the mouse)
        self._paragraphs: list[str] = [""]
        self._spans: list[list[tuple[int, int, int]]] = [[]]  # per paragraph: (start, end, token)
        self._styles: dict[int, Style] = {}  # token index -> its meta style (made once)
        self._tokens = 0
        self._rows: list[Strip] = []  # wrapped rows of all paragraphs but the last
        self._last_rows: list[Strip] = []  # wrapped rows of the last paragraph
        self._last_starts: list[int] = []  # where each of them starts in the paragraph
        self._width = 0
        self._reserved = 0
        if text:
            self.append(text)

    @property
    def text_rows(self) -> int:
        """Rows the text fills (the widget may be taller: reserved rows are blank)."""
        return len(self._rows) + len(self._last_rows)

    @property
    def text(self) -> str:
        return "\n".join(self._paragraphs)

    @property
    def token_count(self) -> int:
        """How many tokens :meth:`append_tokens` has added."""
        return self._tokens

    def clear(self) -> None:
        self._paragraphs, self._spans, self._styles, self._tokens = [""], [[]], {}, 0
        self._rows, self._last_rows, self._last_starts, self._reserved = [], [], [], 0
        self.refresh(layout=True)

    def append(self, text: str) -> bool:
        """Add text that is no token (untrusted: control characters are made visible first).

        Returns True when the widget asked for more rows (a layout pass).
        """
        return self._add([(text, None)])

    def append_tokens(self, pieces: Sequence[tuple[str, int]]) -> bool:
        """Add tokens as (text, token index): with :attr:`turn_id` set, each token's cells
        carry ``{"turn": turn_id, "token": index}`` as style meta, as ``render_steps`` does.

        Returns True when the widget asked for more rows (a layout pass).
        """
        self._tokens += len(pieces)
        return self._add(pieces)

    def _add(self, pieces: Sequence[tuple[str, int | None]]) -> bool:
        open_paragraph = len(self._paragraphs) - 1
        paragraphs, spans = self._paragraphs, self._spans
        added = False
        for text, index in pieces:
            if not text:
                continue  # (a token with no text of its own: the end of the turn)
            added = True
            for n, part in enumerate(safe_text(text).split("\n")):  # (safe_text keeps newlines)
                if n:
                    paragraphs.append("")
                    spans.append([])
                if part:
                    start = len(paragraphs[-1])
                    paragraphs[-1] += part
                    if index is not None:
                        spans[-1].append((start, start + len(part), index))
        closed = len(paragraphs) - 1 - open_paragraph
        if not added:
            return False
        kept = 0  # rows of the last paragraph that stay as they were
        first_changed = len(self._rows)
        if closed and self._width:
            # those paragraphs are complete: keep their rows for good (the one that was open
            # re-wrapped from its last row on, as below)
            kept, rows, _ = self._wrap_open(open_paragraph)
            self._rows.extend(rows)
            for number in range(open_paragraph + 1, len(paragraphs) - 1):
                self._rows.extend(self._wrap(number)[0])
            self._last_rows, self._last_starts = self._wrap(len(paragraphs) - 1)
        elif closed:
            self._rows = []  # not measured yet: everything is wrapped on the first paint
        elif self._width:
            # only the last paragraph grew: its rows but the last stay
            kept, self._last_rows, self._last_starts = self._wrap_open(len(paragraphs) - 1)
        count = len(self._rows) + len(self._last_rows)
        if not self._width or count > self._reserved:
            # whole blocks of a screen's height: the height then depends on the rows alone,
            # not on how the tokens happened to be batched into appends
            block = self._block()
            self._reserved = (count // block + 1) * block
            self.refresh(layout=True)
            return True
        # repaint from the first row that changed (the rows above it stay as they were)
        first_changed += kept
        if count > first_changed:
            self.refresh(Region(0, first_changed, self.size.width, count - first_changed))
        return False

    def _style(self, index: int) -> Style:
        style = self._styles.get(index)
        if style is None:
            style = self._styles[index] = Style(meta={"turn": self.turn_id, "token": index})
        return style

    def _wrap(self, number: int, start: int = 0) -> tuple[list[Strip], list[int]]:
        """Paragraph ``number``, from ``start`` (where one of its rows starts) on, wrapped as
        ``Text.wrap`` wraps the whole paragraph: the rows, and the offset each starts at."""
        console = self.app.console
        base = self.rich_style
        width = self._width
        paragraph = self._paragraphs[number]
        if not paragraph:
            return [Strip.blank(width, base)], [0]
        spans = []
        if self.turn_id is not None:
            spans = [
                Span(max(0, begin - start), end - start, self._style(index))
                for begin, end, index in self._spans[number]
                if end > start
            ]
        text = Text(paragraph[start:], style=base, end="", spans=spans)
        if "\t" in paragraph:
            # Text.wrap expands tabs, which moves the offsets: wrapped whole (see _wrap_open)
            lines: Any = text.wrap(console, width)
            starts = [0] * len(lines)
        else:
            # Text.wrap's own steps for one paragraph, with the default justify and overflow
            offsets = divide_line(text.plain, width)
            lines = text.divide(offsets)
            for line in lines:
                line.rstrip_end(width)
                line.truncate(width, overflow="fold")
            starts = [start, *(start + offset for offset in offsets)]
        rows = [Strip(line.render(console), line.cell_len).crop_extend(0, width, base) for line in lines]
        return rows, starts

    def _wrap_open(self, number: int) -> tuple[int, list[Strip], list[int]]:
        """The open paragraph ``number`` (wrapped into ``_last_rows``) re-wrapped after text was
        added at its end: how many of its rows stayed as they were (all but the last, where a
        word that grew may no longer fit; none with a tab in it, as Text.wrap expands tabs from
        the paragraph's start), then all its rows and where each starts."""
        kept = len(self._last_rows) - 1
        if kept <= 0 or "\t" in self._paragraphs[number]:
            kept = 0
        tail, starts = self._wrap(number, self._last_starts[kept] if kept else 0)
        return kept, self._last_rows[:kept] + tail, self._last_starts[:kept] + starts

    def _block(self) -> int:
        """Rows reserved at a time: a screen's height."""
        return max(MIN_RESERVE_ROWS, self.app.size.height)

    def _rewrap(self, width: int) -> None:
        self._width = width
        self._rows = [row for number in range(len(self._paragraphs) - 1) for row in self._wrap(number)[0]]
        self._last_rows, self._last_starts = self._wrap(len(self._paragraphs) - 1)
        self._reserved = max(self._reserved, len(self._rows) + len(self._last_rows))

    def on_resize(self) -> None:
        if self.content_size.width != self._width and self.content_size.width > 0:
            self._rewrap(self.content_size.width)
            self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._width and width > 0:
            self._rewrap(width)
        return max(1, self._reserved, len(self._rows) + len(self._last_rows))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if width != self._width and width > 0:
            self._rewrap(width)
        if y < len(self._rows):
            return self._rows[y]
        y -= len(self._rows)
        if y < len(self._last_rows):
            return self._last_rows[y]
        return Strip.blank(width, self.rich_style)

    def reserve_block(self) -> None:
        """Hold a screen's height of blank rows before any text comes (a reply about to stream):
        laid out with the reply's own mounting, its first lines then need no layout pass."""
        if self._reserved == 0:
            self._reserved = self._block()
            self.refresh(layout=True)

    def fit(self) -> None:
        """Give back the reserved rows (when the text has stopped growing)."""
        if self._reserved:
            self._reserved = 0
            self.refresh(layout=True)
