"""Text that grows at its end, repainted at the cost of what was added.

A ``Static`` re-wraps and re-renders all of its text on every update: fine once, costly ten
times a second for a reply that keeps growing. This widget keeps the wrapped rows it has
already made and re-wraps only the last paragraph; it repaints only the rows that changed and
asks for a layout pass only when it needs more rows than it has reserved.

A layout pass costs the whole screen's repaint (20-40 ms of the UI thread here, twice that while
the engine thread competes for the GIL: bench/ui.py), so rows are reserved a screen's height at
a time: a 2,000-token reply is laid out a handful of times, not every few lines. The reserved
rows are blank; the conversation follows :attr:`text_rows`, not the widget's height.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from workbench.safetext import safe_text

MIN_RESERVE_ROWS = 8  # at least this many rows kept in hand (a screen's height, when known)


class StreamingText(Widget, can_focus=False):
    DEFAULT_CSS = "StreamingText { height: auto; }"

    def __init__(self, text: str = "", *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._paragraphs: list[str] = [""]
        self._rows: list[Strip] = []  # wrapped rows of all paragraphs but the last
        self._last_rows: list[Strip] = []  # wrapped rows of the last paragraph
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

    def clear(self) -> None:
        self._paragraphs, self._rows, self._last_rows, self._reserved = [""], [], [], 0
        self.refresh(layout=True)

    def append(self, text: str) -> bool:
        """Add text (untrusted: control characters are made visible first).

        Returns True when the widget asked for more rows (a layout pass).
        """
        if not text:
            return False
        first, *rest = safe_text(text).split("\n")
        self._paragraphs[-1] += first
        if rest and self._width:
            # the last paragraph is complete: keep its rows for good
            self._rows.extend(self._wrap(self._paragraphs[-1]))
            for paragraph in rest[:-1]:
                self._rows.extend(self._wrap(paragraph))
        elif rest:
            self._rows = []  # not measured yet: everything is wrapped on the first paint
        self._paragraphs.extend(rest)
        if self._width:
            self._last_rows = self._wrap(self._paragraphs[-1])
        rows = len(self._rows) + len(self._last_rows)
        if not self._width or rows > self._reserved:
            self._reserved = rows + max(MIN_RESERVE_ROWS, self.app.size.height)
            self.refresh(layout=True)
            return True
        if rest:
            self.refresh()  # paragraphs moved: repaint it all (a newline is rare)
        else:
            # only the last paragraph grew: repaint its rows
            self.refresh(Region(0, len(self._rows), self.size.width, len(self._last_rows)))
        return False

    def _wrap(self, paragraph: str) -> list[Strip]:
        console = self.app.console
        base = self.rich_style
        lines = Text(paragraph, style=base, end="").wrap(console, self._width) if paragraph else [Text("")]
        return [
            Strip(line.render(console), line.cell_len).crop_extend(0, self._width, base) for line in lines
        ]

    def _rewrap(self, width: int) -> None:
        self._width = width
        self._rows = [row for paragraph in self._paragraphs[:-1] for row in self._wrap(paragraph)]
        self._last_rows = self._wrap(self._paragraphs[-1])
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

    def fit(self) -> None:
        """Give back the reserved rows (when the text has stopped growing)."""
        self._reserved = 0
        self.refresh(layout=True)
