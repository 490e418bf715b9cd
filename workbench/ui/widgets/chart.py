"""The live top-k chart: the candidates for one token, p and q side by side, as bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from workbench.engine.steps import Candidate, TokenStep
from workbench.safetext import safe_line
from workbench.ui.widgets.chart_layout import (
    CHOSEN_BY,
    LEGEND_FIELDS,
    ColumnLayout,
    bar_value,
    distinct_labels,
    fold,
    pack_fields,
    wrap_words,
)
from workbench.ui.widgets.token_render import format_probability


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
    # Height follows the content (a short chart repaints far fewer cells 10 times a second),
    # but only grows at once: a layout pass re-flows the whole screen (15-100 ms on a busy
    # 2-core machine), and a streaming chart whose line count wobbled by one line asked for
    # one nearly every token (bench/ui.py). A shorter chart keeps its height, blank rows
    # below, until it has stayed shorter for SHRINK_AFTER seconds.
    SHRINK_AFTER = 1.0
    _line_count = 0  # the height held (lines)
    _shrink_timer: Any = None

    TITLE = "Top-k candidates"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = self.TITLE
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

    # What the chart shows: (step, candidates, chosen, entropy, caption, hint). While the
    # mouse rests on a token (a preview), the state it covers is kept in ``_covered`` and
    # updates go there: leaving the token shows the latest of them.
    _covered: tuple[Any, ...] | None = None

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The candidates shown (under a preview: those it covers, which the step keys pick from)."""
        return self._covered[1] if self._covered is not None else self._candidates

    @property
    def step(self) -> TokenStep | None:
        return self._covered[0] if self._covered is not None else self._step

    @property
    def previewing(self) -> bool:
        return self._covered is not None

    @staticmethod
    def _step_state(step: TokenStep | None, caption: str) -> tuple[Any, ...]:
        if step is None:
            return (None, (), None, None, caption or "Waiting for a token…", "")
        return (step, step.candidates, step.token_id, step.entropy, caption or f"token {step.index + 1}", "")

    def _show(self, state: tuple[Any, ...]) -> None:
        if self._covered is not None:
            self._covered = state
            return
        self._step, self._candidates, self._chosen, self._entropy, self._caption, self._hint = state
        self._changed()

    def show_step(self, step: TokenStep | None, caption: str = "") -> None:
        """The candidates a token was chosen from (live, or a selected token of an old reply)."""
        self._show(self._step_state(step, caption))

    def show_candidates(
        self,
        candidates: Sequence[Candidate],
        entropy: float,
        chosen: int | None,
        caption: str,
        hint: str = "",
    ) -> None:
        """A distribution not (yet) tied to a step, e.g. paused before choosing."""
        self._show((None, tuple(candidates), chosen, entropy, caption, hint))

    def preview_step(self, step: TokenStep, caption: str) -> None:
        """Show ``step`` for a while (the mouse is on its token); ``end_preview`` goes back."""
        if self._covered is None:
            self._covered = (
                self._step,
                self._candidates,
                self._chosen,
                self._entropy,
                self._caption,
                self._hint,
            )
        self._step, self._candidates, self._chosen, self._entropy, self._caption, self._hint = (
            self._step_state(step, caption)
        )
        self._changed()

    def end_preview(self) -> None:
        """Back to what the preview covered (updated meanwhile)."""
        covered, self._covered = self._covered, None
        if covered is not None:
            self._show(covered)

    def set_source(self, source: str | None) -> None:
        """Where the numbers come from, in the border: e.g. "p (server, raw) · k ≤ 20"; None:
        this process's own model (p and q both computed here)."""
        self.border_title = f"{self.TITLE} · {source}" if source else self.TITLE
        self._source = source
        self._changed()

    _source: str | None = None

    def _legend_fields(self) -> tuple[str, ...]:
        if self._source is None:
            return LEGEND_FIELDS
        # a server: its one value, named by its semantics; the rest is not given
        return (self._source, "n/a: not sent by the server", "bar: the value given")

    def _changed(self) -> None:
        self._text = self.rendered_text()  # built once per update, drawn by render_line
        self._text_width = self.content_size.width
        lines = self._text.plain.count("\n") + 1
        if lines > self._line_count:
            self._line_count = lines
            self.refresh(layout=True)
        elif lines < self._line_count:
            self._shrink_later()
        self.version += 1
        if self._text_width > 0:
            # the rows now, in this update's callback, not in the frame's render pass: the
            # frame then carries only the compositing (a long frame is a UI stall: bench/ui.py)
            self._build_strips(self._text, self._text_width)

    def _shrink_later(self) -> None:
        """Shrink to the content once it has stayed shorter for a while (one layout pass)."""
        if self._shrink_timer is not None:
            self._shrink_timer.stop()
        if self.is_mounted:
            self._shrink_timer = self.set_timer(self.SHRINK_AFTER, self._shrink)

    def _shrink(self) -> None:
        self._shrink_timer = None
        lines = self._text.plain.count("\n") + 1 if self._text is not None else 1
        if lines < self._line_count:
            self._line_count = lines
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        lines = self.rendered_text(width).plain.count("\n") + 1
        held = self._line_count if width == self._text_width else 0  # another width: start afresh
        if lines > held:
            self._line_count = lines
        return max(lines, held)

    # Line API: the lines are built once per update and handed out row by row, which costs a
    # fraction of rendering a Text through Textual's content pipeline (this widget changes
    # with every token; measured in bench/ui.py).
    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if (self.version, width) != self._strips_key:
            text = (
                self._text
                if self._text is not None and self._text_width == width
                else self.rendered_text(width)
            )
            self._build_strips(text, width)
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def _build_strips(self, text: Text, width: int) -> None:
        base = self.rich_style
        console = self.app.console
        self._strips = [
            Strip(line.render(console), line.cell_len).crop_extend(0, width, base).apply_style(base)
            for line in text.split("\n", allow_blank=True)
        ]
        self._strips_key = (self.version, width)

    def _max_lines(self) -> int | None:
        """Lines the chart may use before its border runs off the pane (None: unknown)."""
        parent = self.parent
        if not isinstance(parent, Widget):
            return None
        height = parent.content_size.height - self.styles.gutter.height
        return height if height > 0 else None

    def rendered_text(self, width: int | None = None, max_lines: int | None = None) -> Text:
        """The chart as text (what render_line draws); no line is wider than ``width``.

        Laid out for 80 columns first: the token column is as wide as the room allows, the id
        column appears once there is room for it, labels cut to fit stay distinct, and when
        the pane is short the lowest-ranked rows give way before the legend does.
        """
        width = max(20, width if width is not None else self.content_size.width)
        if max_lines is None:
            max_lines = self._max_lines()
        lines: list[Text] = [*wrap_words(self._caption, width, Style(bold=True))]
        step = self._step
        if not self._candidates:
            if self._entropy is not None:
                lines.append(Text(f"entropy {self._entropy / math.log(2):.2f} bits", Style(dim=True)))
            if step is not None:
                lines.append(Text("(no candidates recorded)", Style(dim=True)))
            return _join(lines)

        rows = list(enumerate(self._candidates, 1))
        chosen_listed = any(c.token_id == self._chosen for c in self._candidates)
        if step is not None and not chosen_listed:  # chosen from outside the top-k
            rows.append((step.rank, Candidate(step.token_id, step.label, step.p, step.q, step.kind)))
        detail = self._detail(width)
        legend = pack_fields(self._legend_fields(), width, Style(dim=True, italic=True))
        hint = pack_fields(self._hint.split(" · "), width, Style(color="cyan")) if self._hint else []
        fixed = len(lines) + 2 + len(detail) + len(legend) + len(hint)  # + entropy and header
        hidden = 0
        if max_lines is not None and fixed + len(rows) > max_lines:
            keep = max(3, max_lines - fixed)
            if keep < len(rows):
                chosen_row = [r for r in rows if r[1].token_id == self._chosen]
                shown = [r for r in rows if r[1].token_id != self._chosen][: keep - len(chosen_row)]
                shown = sorted(shown + chosen_row, key=lambda r: r[0])
                hidden, rows = len(rows) - len(shown), shown

        bits = (self._entropy or 0.0) / math.log(2)
        known = not math.isnan(bits)  # a server gives no entropy: say so, never invent it
        entropy = Text(f"entropy {bits:.2f} bits" if known else "entropy not given", Style(dim=True))
        if hidden:  # rows that did not fit the pane's height
            entropy.append(f" · {hidden} hidden", Style(dim=True))
            if entropy.cell_len > width:
                short = f"{bits:.2f} bits" if known else "entropy n/a"
                entropy = Text(f"{short} · {hidden} hidden", Style(dim=True))
        lines.append(entropy)

        layout = ColumnLayout.for_width(width)
        labels = distinct_labels([(c.token_id, c.text) for _, c in rows], layout.label, layout.show_id)
        values = [bar_value(c) for _, c in rows]
        top = max((v for v in values if not math.isnan(v)), default=0.0)
        only_q = bool(rows) and all(math.isnan(c.p) for _, c in rows)
        lines.append(layout.header("q" if only_q else "p"))
        for (rank, cand), label in zip(rows, labels, strict=True):
            lines.append(layout.row(rank, cand, label, cand.token_id == self._chosen, top))
        return _join([*lines, *detail, *legend, *hint])

    def _detail(self, width: int) -> list[Text]:
        """The chosen token (or, paused, the top candidate) in full: text, id, p, q, rank, how."""
        step = self._step
        if step is not None:
            head = "chosen"
            fields = [
                f"id {step.token_id}" if step.token_id >= 0 else "no id",
                f"p {format_probability(step.p).strip()}",
                f"q {format_probability(step.q).strip()}",
                f"rank {step.rank}",
                CHOSEN_BY.get(step.chosen_by, step.chosen_by),
            ]
            token = step.label
        else:
            if not self._candidates:
                return []
            top = self._candidates[0]
            head = "top"
            fields = [
                f"id {top.token_id}" if top.token_id >= 0 else "no id",
                f"p {format_probability(top.p).strip()}",
                f"q {format_probability(top.q).strip()}",
                "rank 1",
            ]
            token = top.text
        first = Text(f"{head} ", Style(bold=True))
        first.append(safe_line(token), Style(bold=True, underline=True))
        out = [first] if first.cell_len <= width else fold(first, width)
        return out + pack_fields(fields, width, Style())


def _join(lines: list[Text]) -> Text:
    return Text("\n", no_wrap=True, overflow="crop").join(lines)
