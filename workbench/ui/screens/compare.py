"""Two sibling branches of a reply compared from their fork.

The shared tokens once, the token where the two part with its candidates (p, q, and which
candidate each branch took), then each branch's continuation: side by side from 100 columns,
stacked below that. ``[``/``]`` choose which sibling is on the right, ``s`` swaps the two,
Enter shows the right one in the chat, Escape closes.

Dismisses with the id of the reply to show, or None.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from workbench.branches import Comparison, compare, reply_siblings
from workbench.conversation import Conversation, Turn
from workbench.engine.steps import TokenStep
from workbench.safetext import safe_line, safe_text
from workbench.ui.widgets.chart_layout import distinct_labels
from workbench.ui.widgets.token_render import format_probability, render_steps

LEFT_STYLE = Style(color="cyan", bold=True)
RIGHT_STYLE = Style(color="magenta", bold=True)
LABEL_WIDTH = 16
PREFIX_LINES = 2  # the shared tokens: their end, in this many lines at most


def branch_tag(conversation: Conversation, turn: Turn) -> str:
    position, count = conversation.sibling_position(turn.id)
    return f"‹{position}/{count}›"


def fork_rows(comparison: Comparison, limit: int) -> list[tuple[str, str, str, str, list[Turn]]]:
    """The candidate rows at the fork: (rank, label, p, q, the branches that took it).

    The ``limit`` most probable, plus any candidate a branch took below them; a branch whose
    token is not among the recorded candidates gets a row of its own from its step."""
    candidates = comparison.candidates
    sides = [comparison.left, comparison.right]
    taken = {side.id: comparison.fork_step(side) for side in sides}
    shown = [
        i
        for i, c in enumerate(candidates)
        if i < limit or any(s is not None and s.token_id == c.token_id for s in taken.values())
    ]
    labels = distinct_labels([(candidates[i].token_id, candidates[i].text) for i in shown], LABEL_WIDTH)
    rows = []
    for i, label in zip(shown, labels, strict=True):
        c = candidates[i]
        who = [side for side in sides if (s := taken[side.id]) is not None and s.token_id == c.token_id]
        rows.append((str(i + 1), label, format_probability(c.p), format_q(c.q), who))
    listed = {candidates[i].token_id for i in shown}
    for side in sides:
        step = taken[side.id]
        if step is not None and step.token_id not in listed:
            label = distinct_labels([(step.token_id, step.label)], LABEL_WIDTH)[0]
            rows.append((str(step.rank), label, format_probability(step.p), format_q(step.q), [side]))
    return rows


def format_q(q: float) -> str:
    """q as on the chart; a candidate the sampling settings cut shows as such."""
    return format_probability(q) if q > 0 else "✗ cut".rjust(6)


def took_line(step: TokenStep | None, style: Style) -> Text:
    """ "took #4 ␣foo  p 3.12%  q 5.00%  (picked)": one branch's token at the fork."""
    text = Text()
    if step is None:
        text.append("ends before the fork", style)
        return text
    how = {"user": "picked", "greedy": "greedy", "sample": "sampled"}.get(step.chosen_by, step.chosen_by)
    text.append(f"took #{step.rank} ", style)
    text.append(safe_line(step.label), style + Style(underline=True))
    text.append(f"  p {format_probability(step.p).strip()}  q {format_q(step.q).strip()}  ({how})", style)
    return text


class CompareScreen(Screen[int | None]):
    """Compare the reply ``turn_id`` with one of its siblings (the next one first)."""

    HORIZONTAL_BREAKPOINTS = [(0, "-stacked"), (100, "-side")]
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("right_square_bracket", "other(1)", "Next branch"),
        Binding("left_square_bracket", "other(-1)", "Prev branch"),
        Binding("s", "swap", "Swap"),
        Binding("enter", "show", "Show right"),
    ]
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #cmp-title { height: 1; padding: 0 1; text-style: bold; background: $boost; }
    CompareScreen #cmp-prefix { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    CompareScreen #cmp-fork { height: auto; padding: 0 1; }
    CompareScreen #cmp-sides { height: 1fr; layout: horizontal; }
    CompareScreen.-stacked #cmp-sides { layout: vertical; }
    CompareScreen .cmp-side {
        width: 1fr; height: 1fr; padding: 0 1; border: round $secondary 60%;
        border-title-align: left;
    }
    CompareScreen .cmp-side:focus { border: round $accent; }
    CompareScreen #cmp-left { border-title-color: cyan; }
    CompareScreen #cmp-right { border-title-color: magenta; }
    """

    def __init__(self, conversation: Conversation, turn_id: int) -> None:
        super().__init__()
        self.conversation = conversation
        siblings = reply_siblings(conversation, turn_id)
        self.left = conversation.turns[turn_id]
        index = siblings.index(self.left)
        # the next sibling, or the previous one for the last
        self.right = siblings[index + 1] if index + 1 < len(siblings) else siblings[index - 1]
        self.comparison = compare(self.left, self.right)

    def compose(self) -> ComposeResult:
        yield Static("", id="cmp-title", markup=False)
        yield Static("", id="cmp-prefix", markup=False)
        yield Static("", id="cmp-fork", markup=False)
        with Container(id="cmp-sides"):
            with VerticalScroll(id="cmp-left", classes="cmp-side"):
                yield Static("", id="cmp-left-text", markup=False)
            with VerticalScroll(id="cmp-right", classes="cmp-side"):
                yield Static("", id="cmp-right-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cmp-left").focus()
        self.refresh_view()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_view()

    # --- what is shown --------------------------------------------------------------------

    def refresh_view(self) -> None:
        comparison = self.comparison
        left, right = comparison.left, comparison.right
        fork = comparison.fork
        title = Text("Compare ")
        title.append(branch_tag(self.conversation, left), LEFT_STYLE)
        title.append(" and ")
        title.append(branch_tag(self.conversation, right), RIGHT_STYLE)
        if fork is not None:
            title.append(f" · they part at token {fork + 1}")
        elif left.steps and right.steps:
            title.append(" · the same tokens")
        self.query_one("#cmp-title", Static).update(title)
        self.query_one("#cmp-prefix", Static).update(self._prefix_text())
        self.query_one("#cmp-fork", Static).update(self._fork_text())
        for side, box in ((left, "#cmp-left"), (right, "#cmp-right")):
            self.query_one(box, VerticalScroll).border_title = branch_tag(self.conversation, side)
            self.query_one(f"{box}-text", Static).update(self._side_text(side))

    def _prefix_text(self) -> Text:
        comparison = self.comparison
        prefix = comparison.prefix
        if comparison.fork is None or not prefix:
            return Text("No shared tokens: they part at the first token." if comparison.fork == 0 else "")
        head = Text(f"Shared, {len(prefix)} token{'s' if len(prefix) != 1 else ''}: ", Style(bold=True))
        joined = safe_line("".join(step.text for step in prefix))
        room = max(20, PREFIX_LINES * (self.size.width - 2) - head.cell_len - 1)
        if len(joined) > room:
            joined = "…" + joined[-room:]
        return head + Text(joined)

    def _fork_text(self) -> Text:
        comparison = self.comparison
        if comparison.fork is None:
            if comparison.left.steps and comparison.right.steps:
                return Text("The two branches are the same, token for token.")
            return Text("No token records for one of them: their texts are shown below.")
        limit = 5 if self.size.height < 30 else 9
        out = Text()
        out.append(f"Token {comparison.fork + 1}: ", Style(bold=True))
        out.append(f"{'#':>2}  {'token':<{LABEL_WIDTH}}  {'p':>6}  {'q':>6}", Style(dim=True))
        styles = {comparison.left.id: LEFT_STYLE, comparison.right.id: RIGHT_STYLE}
        indent = " " * len(f"Token {comparison.fork + 1}: ")
        for rank, label, p, q, who in fork_rows(comparison, limit):
            out.append(f"\n{indent}{rank:>2}  ")
            out.append(label.ljust(LABEL_WIDTH), Style(bold=bool(who)))
            out.append(f"  {p}  {q}")
            for side in who:
                out.append(f"  ◀ {branch_tag(self.conversation, side)}", styles[side.id])
        shown = min(limit, len(comparison.candidates))
        if len(comparison.candidates) > shown:
            out.append(f"\n{indent}(top {shown} of {len(comparison.candidates)} recorded)", Style(dim=True))
        return out

    def _side_text(self, side: Turn) -> Text:
        comparison = self.comparison
        if comparison.fork is None:
            return Text(safe_text(side.content) or "(empty)")
        style = LEFT_STYLE if side is comparison.left else RIGHT_STYLE
        head = took_line(comparison.fork_step(side), style)
        steps = comparison.continuation(side)
        if not steps:
            return head
        text = head + Text("\n" + ("…" if comparison.fork > 0 else ""), Style(dim=True))
        return text + render_steps(steps, marks=frozenset({0}), show_hidden=True)

    # --- keys -----------------------------------------------------------------------------

    def action_other(self, delta: int) -> None:
        """Compare with the previous/next sibling (skipping the left one)."""
        siblings = [t for t in reply_siblings(self.conversation, self.left.id) if t is not self.left]
        index = siblings.index(self.right) if self.right in siblings else 0
        self.right = siblings[(index + delta) % len(siblings)]
        self.comparison = compare(self.left, self.right)
        self.refresh_view()

    def action_swap(self) -> None:
        self.left, self.right = self.right, self.left
        self.comparison = compare(self.left, self.right)
        self.refresh_view()

    def action_show(self) -> None:
        self.dismiss(self.right.id)

    def action_close(self) -> None:
        self.dismiss(None)
