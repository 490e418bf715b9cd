"""The live top-k chart: the candidates for one token, p and q side by side, as bars."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from workbench.engine.steps import Candidate, TokenStep
from workbench.ui.widgets.token_render import KIND_STYLES, format_probability

_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction``, with 1/8-cell resolution."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)


class CandidatesChart(Widget, can_focus=True):
    """Shows one step's candidates. ``show`` is called from the UI thread at most ~20 times a second.

    Focused, it carries the step-mode keys (the app does the work).
    """

    BINDINGS = [
        Binding("space", "app.step_sample", "Sample"),
        Binding("g", "app.step_greedy", "Greedy"),
        Binding("t", "app.step_token", "Type token"),
        Binding("p", "app.play_pause", "Play/pause"),
        Binding("plus,equals_sign", "app.play_speed(1)", "Faster", show=False),
        Binding("minus", "app.play_speed(-1)", "Slower", show=False),
        *[Binding(str(n), f"app.step_pick({n})", f"Pick {n}", show=False) for n in range(1, 10)],
    ]

    DEFAULT_CSS = """
    CandidatesChart {
        height: auto;
        max-height: 100%;
        padding: 0 1;
        border: round $primary 50%;
        border-title-color: $text-accent;
    }
    CandidatesChart:focus { border: round $accent; }
    """

    version: reactive[int] = reactive(0, layout=False)
    # Height follows the content (a short chart repaints far fewer cells 10 times a second);
    # a layout pass is asked for only when the number of lines changes.
    _line_count = 0

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Top-k candidates"
        self._step: TokenStep | None = None
        self._candidates: tuple[Candidate, ...] = ()
        self._chosen: int | None = None
        self._entropy: float | None = None
        self._caption = "Waiting for a token…"
        self._hint = ""
        self._strips: list[Strip] = []
        self._text: Text | None = None
        self._text_width = 0
        self._strips_key: tuple[int, int] | None = None

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self._candidates

    @property
    def step(self) -> TokenStep | None:
        return self._step

    def show_step(self, step: TokenStep | None, caption: str = "") -> None:
        """The candidates a token was chosen from (live, or a selected token of an old reply)."""
        self._step = step
        self._hint = ""
        if step is None:
            self._candidates, self._chosen, self._entropy = (), None, None
            self._caption = caption or "Waiting for a token…"
        else:
            self._candidates, self._chosen, self._entropy = step.candidates, step.token_id, step.entropy
            self._caption = caption or f"token {step.index + 1}"
        self._changed()

    def show_candidates(
        self,
        candidates: Sequence[Candidate],
        entropy: float,
        chosen: int | None,
        caption: str,
        hint: str = "",
    ) -> None:
        """A distribution not (yet) tied to a step, e.g. paused before choosing."""
        self._step = None
        self._candidates, self._chosen, self._entropy = tuple(candidates), chosen, entropy
        self._caption, self._hint = caption, hint
        self._changed()

    def _changed(self) -> None:
        self._text = self.rendered_text()  # built once per update, drawn by render_line
        self._text_width = self.content_size.width
        lines = self._text.plain.count("\n") + 1
        if lines != self._line_count:
            self._line_count = lines
            self.refresh(layout=True)
        self.version += 1

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.rendered_text(width).plain.count("\n") + 1

    # Line API: the lines are built once per update and handed out row by row, which costs a
    # fraction of rendering a Text through Textual's content pipeline (this widget changes
    # with every token; measured in bench/ui.py).
    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        key = (self.version, width)
        if key != self._strips_key:
            base = self.rich_style
            console = self.app.console
            text = (
                self._text
                if self._text is not None and self._text_width == width
                else self.rendered_text(width)
            )
            self._strips = [
                Strip(line.render(console), line.cell_len).crop_extend(0, width, base).apply_style(base)
                for line in text.split("\n", allow_blank=True)
            ]
            self._strips_key = key
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def rendered_text(self, width: int | None = None) -> Text:
        """The chart as text (what render_line draws)."""
        width = max(20, width if width is not None else self.content_size.width)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(self._caption + "\n", Style(bold=True))
        if self._entropy is not None:
            out.append(f"entropy {self._entropy / math.log(2):.2f} bits", Style(dim=True))
            if self._step is not None:
                step = self._step
                out.append(f" · rank {step.rank} · {step.chosen_by}", Style(dim=True))
            out.append("\n")
        if not self._candidates:
            if self._step is not None:
                out.append("(no candidates recorded)\n", Style(dim=True))
            return out
        show_id = width >= 44
        label_width = max(6, min(16, width - (34 if show_id else 27)))
        bar_width = max(3, width - label_width - (30 if show_id else 23))
        header = (
            f"{'#':>2} {'token':<{label_width}} " + (f"{'id':>6} " if show_id else "") + f"{'p':>6} {'q':>6}"
        )
        out.append(header + "\n", Style(dim=True, bold=True))
        chosen_listed = False
        for rank, cand in enumerate(self._candidates, 1):
            chosen = cand.token_id == self._chosen
            chosen_listed = chosen_listed or chosen
            self._row(out, rank, cand, chosen, label_width, bar_width, show_id)
        if self._step is not None and not chosen_listed:
            step = self._step
            extra = Candidate(step.token_id, step.label, step.p, step.q, step.kind)
            self._row(out, step.rank, extra, True, label_width, bar_width, show_id)
        out.append("p model · q sampling · ✗ cut by sampling", Style(dim=True, italic=True))
        if self._hint:
            out.append("\n" + self._hint, Style(color="cyan"))
        return out

    def _row(
        self,
        out: Text,
        rank: int,
        cand: Candidate,
        chosen: bool,
        label_width: int,
        bar_width: int,
        show_id: bool,
    ) -> None:
        base = Style(reverse=True, bold=True) if chosen else Style()
        label = cand.text if len(cand.text) <= label_width else cand.text[: label_width - 1] + "…"
        out.append(f"{rank:>2} ", base)
        out.append(label.ljust(label_width), base + KIND_STYLES.get(cand.kind, Style()))
        out.append(" ", base)
        if show_id:
            out.append(f"{cand.token_id:>6} ", base + Style(dim=not chosen))
        out.append(format_probability(cand.p) + " ", base)
        removed = cand.q == 0.0
        q_text = "    ✗ " if removed else format_probability(cand.q)
        out.append(q_text, base + Style(dim=removed, color="red" if removed and not chosen else None))
        out.append(" ")
        out.append(bar(cand.p, bar_width), Style(color="green" if not removed else "grey50"))
        out.append("\n")
