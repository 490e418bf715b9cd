"""The candidates chart's layout, as pure functions of the width it gets (no Textual here).

Laid out for 80 columns first (a chart 32 cells wide inside its border), growing from there:

     # token        p      q  p bar
     1 ␣centre  32.9% 100.0%  █████
     2 ␣m…tiply 18.3%     ✗   ██▊

Every line fits its width: rows are built to it, and the caption, detail, legend and hints
are wrapped between their fields rather than cut.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from workbench.engine.steps import Candidate
from workbench.safetext import safe_line
from workbench.ui.widgets.token_render import KIND_STYLES, format_probability

_EIGHTHS = " ▏▎▍▌▋▊▉█"
LEGEND_FIELDS = ("p model", "q sampling", "✗ cut", "bar p, top = full")
CHOSEN_BY = {"sample": "sampled", "greedy": "greedy", "user": "picked by you"}
ELLIPSIS = "…"
PROB_CELLS = 6  # format_probability's width
ID_CELLS = 6


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction``, with 1/8-cell resolution."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)


def take_cells(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` terminal cells."""
    out, used = [], 0
    for char in text:
        width = cell_len(char)
        if used + width > cells:
            break
        out.append(char)
        used += width
    return "".join(out)


def take_last_cells(text: str, cells: int) -> str:
    """The longest end of ``text`` that fits in ``cells`` terminal cells."""
    return take_cells(text[::-1], cells)[::-1]


def clip(label: str, width: int) -> str:
    """``label`` cut to ``width`` cells with an ellipsis where it was cut."""
    if cell_len(label) <= width:
        return label
    return take_cells(label, width - 1) + ELLIPSIS


def clip_at(label: str, width: int, at: int) -> str:
    """``label`` cut to ``width`` cells so that character ``at`` stays visible: its start,
    an ellipsis, and the part from ``at`` on (with the end if it fits)."""
    if cell_len(label) <= width:
        return label
    head = take_cells(label, max(1, (width - 2) // 3))
    room = width - cell_len(head) - 1
    tail = label[at:]
    if cell_len(tail) <= room:  # the end fits: show as much before ``at`` as there is room for
        tail = take_last_cells(label[len(head) :], room)
        return head + ELLIPSIS + tail
    return head + ELLIPSIS + take_cells(tail, room - 1) + ELLIPSIS


def distinct_labels(items: Sequence[tuple[int, str]], width: int, ids_shown: bool = False) -> list[str]:
    """Labels of (token id, text) cut to ``width`` cells so that different tokens never look
    the same: where plain cutting makes two equal, each keeps the place where it differs; two
    tokens with the same text are told apart by their ids (unless an id column is shown)."""
    texts = [safe_line(text) for _, text in items]
    shown = [clip(text, width) for text in texts]
    for _ in range(2):  # a second pass settles the rare label the first pass made collide
        groups: dict[str, list[int]] = {}
        for index, label in enumerate(shown):
            groups.setdefault(label, []).append(index)
        clashes = [g for g in groups.values() if len({items[i][0] for i in g}) > 1]
        if ids_shown:  # the id column tells equal texts apart; only cutting must not merge labels
            clashes = [g for g in clashes if len({texts[i] for i in g}) > 1]
        if not clashes:
            break
        for group in clashes:
            for i in group:
                others = [texts[j] for j in group if texts[j] != texts[i]]
                if not others:  # the same text as another token: its id tells them apart
                    tag = f"#{items[i][0]}"
                    if cell_len(texts[i]) + len(tag) <= width:
                        shown[i] = texts[i] + tag
                    else:
                        shown[i] = take_cells(texts[i], max(1, width - len(tag) - 1)) + ELLIPSIS + tag
                        shown[i] = take_last_cells(shown[i], width)
                    continue
                at = max(len(os.path.commonprefix([texts[i], other])) for other in others)
                shown[i] = clip_at(texts[i], width, min(at, max(0, len(texts[i]) - 1)))
    return shown


def bar_value(cand: Candidate) -> float:
    """What a bar draws: ``p``, or ``q`` where a server gave only the after-sampling value."""
    return cand.q if math.isnan(cand.p) else cand.p


@dataclass(frozen=True)
class ColumnLayout:
    """Column widths for a chart ``width`` cells wide."""

    width: int
    label: int
    bar: int
    show_id: bool

    @classmethod
    def for_width(cls, width: int) -> ColumnLayout:
        # rank(2) sp label sp [id(6) sp] p(6) sp q(6) sp bar
        fixed = 2 + 1 + 1 + PROB_CELLS + 1 + PROB_CELLS + 1
        show_id = width >= fixed + ID_CELLS + 1 + 10 + 7
        room = width - fixed - (ID_CELLS + 1 if show_id else 0)
        bar_cells = max(5, room * 2 // 5)
        label = max(4, min(24, room - bar_cells))
        bar_cells = max(1, room - label)
        return cls(width, label, bar_cells, show_id)

    def header(self, bar_of: str = "p") -> Text:
        parts = [f"{'#':>2}", f"{'token':<{self.label}}"]
        if self.show_id:
            parts.append(f"{'id':>{ID_CELLS}}")
        parts += [f"{'p':>{PROB_CELLS}}", f"{'q':>{PROB_CELLS}}", take_cells(f"{bar_of} bar", self.bar)]
        return Text(" ".join(parts), Style(dim=True, bold=True))

    def row(self, rank: int, cand: Candidate, label: str, chosen: bool, top: float) -> Text:
        """One candidate: ``top`` is the largest bar value on the chart (its bar is full)."""
        base = Style(reverse=True, bold=True) if chosen else Style()
        out = Text(no_wrap=True, overflow="crop")
        out.append(f"{rank:>2} ", base)
        pad = " " * max(0, self.label - cell_len(label))
        out.append(label + pad, base + KIND_STYLES.get(cand.kind, Style()))
        out.append(" ", base)
        if self.show_id:  # (a server that names tokens by text alone gives no id)
            shown_id = str(cand.token_id) if cand.token_id >= 0 else "—"
            out.append(f"{shown_id:>{ID_CELLS}} ", base + Style(dim=not chosen))
        out.append(format_probability(cand.p) + " ", base)
        removed = cand.q == 0.0
        q_text = "✗".rjust(PROB_CELLS - 1) + " " if removed else format_probability(cand.q)
        out.append(q_text, base + Style(dim=removed, color="red" if removed and not chosen else None))
        out.append(" ")
        value = bar_value(cand)
        fraction = value / top if top > 0 and not math.isnan(value) else 0.0
        out.append(bar(fraction, self.bar), Style(color="green" if not removed else "grey50"))
        return out


def fold(text: Text, width: int) -> list[Text]:
    """``text`` broken into pieces of at most ``width`` cells, anywhere."""
    out: list[Text] = []
    plain = text.plain
    start = 0
    while start < len(plain):
        piece = take_cells(plain[start:], width) or plain[start]
        out.append(text[start : start + len(piece)])
        start += len(piece)
    return out or [Text("")]


def pack_fields(fields: Sequence[str], width: int, style: Style, sep: str = " · ") -> list[Text]:
    """Fields joined by ``sep`` on as few lines as fit ``width``; a line breaks only between
    fields (a field wider than the line is folded)."""
    lines: list[Text] = []
    current = ""
    for field in fields:
        if not field:
            continue
        candidate = f"{current}{sep}{field}" if current else field
        if cell_len(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(Text(current, style))
        if cell_len(field) <= width:
            current = field
        elif sep != " " and " " in field:  # a long field: wrap its words
            words = pack_fields(field.split(" "), width, style, sep=" ")
            lines.extend(words[:-1])
            current = words[-1].plain
        else:
            pieces = fold(Text(field, style), width)
            lines.extend(pieces[:-1])
            current = pieces[-1].plain
    if current:
        lines.append(Text(current, style))
    return lines


def wrap_words(text: str, width: int, style: Style) -> list[Text]:
    """A caption wrapped to ``width`` cells: between its ' · ' parts, else between words."""
    return pack_fields(text.split(" · "), width, style) or [Text("", style)]
