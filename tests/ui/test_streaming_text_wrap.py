"""StreamingText re-wraps only the last row of a growing paragraph, and repaints only what changed.

A model that writes one long paragraph made each update of the old widget cost more than the
last: every token re-wrapped and repainted the whole paragraph. Now text added at the end is
wrapped from the start of the paragraph's last row on, which must give exactly the rows that
wrapping the whole text gives (``Text.wrap``, as before): checked over a random stream of
tokens with long words, wide characters, runs of spaces, tabs and newlines.
"""

from __future__ import annotations

import random

import pytest
import rich.text
from rich._wrap import divide_line
from rich.style import Style
from rich.text import Span, Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from tests.ui.helpers import LayoutPasses
from tests.ui.test_plain_text_view import ConversationApp, reply, show_reply, steps
from workbench.conversation import Turn
from workbench.ui.widgets import streaming_text
from workbench.ui.widgets.streaming_text import StreamingText

WIDTH = 24
PIECES = [
    " the",
    " dragon",
    " read",
    "s",
    "ing",
    ",",
    ".",
    "  ",
    " ",
    " supercalifragilisticexpialidocious",  # longer than a row: folded
    "abcdefghijklmnopqrstuvwxyz",  # continues a word past the row's end
    " 漢字",
    "の本",
    " 🐉",
    "\n",
    "\n\n",
    " end\n",
]


class StreamApp(App[None]):
    CSS = f"StreamingText {{ width: {WIDTH}; }}"

    def compose(self) -> ComposeResult:
        yield StreamingText()


def whole_wrap(widget: StreamingText) -> list[Strip]:
    """Every paragraph wrapped whole with ``Text.wrap``, as the widget did before."""
    console, base, width = widget.app.console, widget.rich_style, widget._width
    rows: list[Strip] = []
    for paragraph, spans in zip(widget._paragraphs, widget._spans, strict=True):
        if not paragraph:
            rows.append(Strip.blank(width, base))
            continue
        styled = [
            Span(start, end, Style(meta={"turn": widget.turn_id, "token": i})) for start, end, i in spans
        ]
        lines = Text(paragraph, style=base, end="", spans=styled).wrap(console, width)
        rows.extend(Strip(line.render(console), line.cell_len).crop_extend(0, width, base) for line in lines)
    return rows


async def test_rows_grown_token_by_token_equal_the_whole_text_wrapped() -> None:
    rng = random.Random(7)
    app = StreamApp()
    async with app.run_test(size=(40, 20)) as pilot:
        widget = app.query_one(StreamingText)
        widget.turn_id = 3
        await pilot.pause()
        index = 0
        for round_ in range(400):
            batch = []
            for _ in range(rng.randint(1, 4)):
                piece = rng.choice(PIECES + (["\tx"] if round_ > 300 else []))  # tabs late: no resuming
                batch.append((piece, index))
                index += 1
            widget.append_tokens(batch)
            assert widget._rows + widget._last_rows == whole_wrap(widget), f"after token {index}: {batch}"


async def test_a_token_added_to_a_long_paragraph_wraps_and_repaints_only_its_last_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = StreamApp()
    async with app.run_test(size=(40, 20)) as pilot:
        widget = app.query_one(StreamingText)
        widget.append(" word" * 100)  # one paragraph of about 25 rows
        await pilot.pause()
        rows = widget.text_rows
        assert rows > 20
        wrapped: list[int] = []  # characters line-broken (Text.wrap's and the widget's own calls)
        repainted: list[Region] = []

        def counted(text: str, width: int, fold: bool = True) -> list[int]:
            wrapped.append(len(text))
            return divide_line(text, width, fold)

        monkeypatch.setattr(rich.text, "divide_line", counted)
        monkeypatch.setattr(streaming_text, "divide_line", counted, raising=False)
        original_refresh = widget.refresh

        def counted_refresh(*regions, **kwargs):  # type: ignore[no-untyped-def]
            repainted.extend(regions)
            return original_refresh(*regions, **kwargs)

        widget.refresh = counted_refresh  # type: ignore[method-assign]
        widget.append(" more")
        assert wrapped and max(wrapped) <= 2 * WIDTH, f"characters re-wrapped: {wrapped}"
        assert repainted and all(r.y >= rows - 2 for r in repainted), repainted

        # a newline: the rows above the paragraph that closed are not repainted either
        wrapped.clear()
        repainted.clear()
        widget.append(" last\nnext")
        assert max(wrapped) <= 2 * WIDTH, f"characters re-wrapped: {wrapped}"
        assert repainted and all(r.y >= rows - 2 for r in repainted), repainted


async def test_a_streaming_reply_holds_its_rows_from_the_start_so_its_first_lines_need_no_layout() -> None:
    """The rows are reserved when the reply's view is mounted (one layout pass with it), not
    at its first token: on the old code the first token asked for a whole-screen layout pass."""
    user = Turn(1, "user", "Tell me a story", None)
    turn = reply(2, [], 1, status="streaming")
    app = ConversationApp()
    async with app.run_test(size=(80, 24)) as pilot:
        _, view = await show_reply(pilot, user, turn)
        layout = LayoutPasses(app.screen)
        await layout.settle(pilot)  # the mount's own passes are not the first lines
        words = steps([" word"] * 60)  # about 5 rows at 80 columns: fewer than the reserve
        for n in range(0, 60, 5):
            turn.steps.extend(words[n : n + 5])
            view.append_steps(words[n : n + 5])
            await pilot.pause()
        stream = view.query_one(StreamingText)
        assert 3 <= stream.text_rows < 24
        assert layout.count == 0, f"{layout.count} whole-screen layout passes for the reply's first lines"
