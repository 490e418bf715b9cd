"""The logit lens of one predicted token: a grid of layers by candidates.

Each row is a layer (the model's output at the top, the embeddings at the bottom): its top-k
candidates with p, each cell coloured like the heat map, and a column with the probability
that layer gives the token finally chosen. ``[`` and ``]`` move to the previous or next token
of the same text (from a reply back into its prompt): one cached forward pass serves them all.

Threads: the lens is computed on the engine thread (engine/runner.py) from a thread worker;
the result comes back as a message, so the screen never waits on torch. A chat reply being
generated holds the engine thread: the lens then comes once it ends. Every token shown is
data (``rich.text.Text`` after ``safe_line``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from workbench.engine.errors import WorkbenchError
from workbench.safetext import safe_line
from workbench.ui.widgets.heat_legend import heat_palette
from workbench.ui.widgets.token_render import format_probability

if TYPE_CHECKING:
    from workbench.engine.lens import LensResult
    from workbench.engine.loading import LoadedModel

TOP_K = 8  # candidates per layer (the grid scrolls sideways where they do not fit)
LABEL_WIDTH = 9  # a candidate's label is cut to this many cells


def short_probability(p: float) -> str:
    """Four cells: '100%', ' 77%', '7.6%', '0.4%', '<.1%'."""
    if p >= 0.995:
        return "100%"
    if p >= 0.0995:
        return f"{p * 100:3.0f}%"
    if p >= 0.00095:
        return f"{p * 100:.1f}%"
    return "<.1%"


def _cut(label: str, width: int = LABEL_WIDTH) -> str:
    label = safe_line(label)
    return label if len(label) <= width else label[: width - 1] + "\u2026"


class _LensDone(Message):
    def __init__(self, serial: int, result: LensResult | None, error: str | None) -> None:
        super().__init__()
        self.serial, self.result, self.error = serial, result, error


class LensScreen(Screen[None]):
    """The lens of the prediction of ``ids[target]`` (``target == len(ids)``: the next token)."""

    BINDINGS = [
        Binding("escape,q,l", "close", "Close the lens"),
        Binding("left_square_bracket", "move(-1)", "Previous token"),
        Binding("right_square_bracket", "move(1)", "Next token"),
    ]
    DEFAULT_CSS = """
    LensScreen { background: $background; }
    LensScreen #lens-title { height: auto; padding: 0 1; }
    LensScreen #lens-note { height: auto; padding: 0 1; color: $text-muted; }
    LensScreen #lens-grid { height: 1fr; }
    LensScreen #lens-detail { height: auto; padding: 0 1; }
    LensScreen #lens-detail.-error { color: $error; }
    LensScreen #lens-keys { height: 1; padding: 0 1; background: $footer-background; color: $footer-foreground; }
    """

    def __init__(
        self,
        loaded: LoadedModel,
        ids: Sequence[int],
        target: int,
        where: str = "",
        first: int = 1,
        top_k: int = TOP_K,
        numbered_from: int = 0,
    ) -> None:
        super().__init__()
        self.loaded = loaded
        self.ids = [int(i) for i in ids]
        self.first = max(1, first)  # [ stops here (a reply's first token, or the text's second)
        self.target = max(self.first, min(target, len(self.ids)))
        self.where = where  # what the text is, e.g. "the reply" or "the scored text"
        self.numbered_from = numbered_from  # the index shown as token 1 (a reply's first token)
        self.top_k = top_k
        self.result: LensResult | None = None
        self._serial = 0

    def compose(self) -> ComposeResult:
        yield Static(id="lens-title")
        yield Static(id="lens-note")
        table: DataTable[Any] = DataTable(id="lens-grid", cursor_type="cell", zebra_stripes=False)
        yield table
        yield Static(id="lens-detail")
        yield Static(
            Text.assemble(
                ("Esc", "bold"),
                " close  ",
                ("[ ]", "bold"),
                " previous/next token  ",
                ("\u2190\u2192\u2191\u2193", "bold"),
                " move  ",
                ("F1", "bold"),
                " help",
            ),
            id="lens-keys",
        )

    def on_mount(self) -> None:
        self._show_title()
        self.query_one("#lens-note", Static).update(
            Text("Computing the lens\u2026" + (" (after the reply being generated)" if self._busy() else ""))
        )
        self.query_one(DataTable).focus()
        self._compute()

    def _busy(self) -> bool:
        return bool(getattr(self.app, "generating", False))

    # --- computing --------------------------------------------------------------------

    def _compute(self) -> None:
        self._serial += 1
        self._run(self._serial, list(self.ids), self.target)

    @work(thread=True, exclusive=True, group="lens", exit_on_error=False)
    def _run(self, serial: int, ids: list[int], target: int) -> None:
        from workbench.engine import runner
        from workbench.engine.lens import logit_lens

        try:
            result = runner.run(logit_lens, self.loaded, ids, target, self.top_k)
            self.post_message(_LensDone(serial, result, None))
        except WorkbenchError as exc:
            self.post_message(_LensDone(serial, None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown on the screen, never a crash
            self.post_message(_LensDone(serial, None, f"{type(exc).__name__}: {exc}"))

    @on(_LensDone)
    def _done(self, message: _LensDone) -> None:
        if message.serial != self._serial or not self.is_mounted:
            return  # an older position's answer, or the screen is gone
        detail = self.query_one("#lens-detail", Static)
        detail.set_class(message.error is not None, "-error")
        if message.error is not None:
            detail.update(Text(safe_line(message.error)))
            return
        assert message.result is not None
        self.result = message.result
        self._fill(message.result)

    # --- showing ----------------------------------------------------------------------

    def _chosen_label(self) -> str:
        if self.result is not None and self.result.target == self.target:
            return self.result.chosen
        if self.target < len(self.ids):
            return str(self.loaded.table.label(self.ids[self.target]))
        return "the next token"

    def _show_title(self) -> None:
        title = Text("Logit lens", Style(bold=True))
        base = self.numbered_from
        if self.target >= len(self.ids):
            title.append(" \u00b7 the token after the text")
        elif self.target < base:  # a reply's prompt: numbered on its own
            title.append(" \u00b7 prompt token ")
            title.append(f"{self.target + 1}", Style(bold=True))
            title.append(f"/{base}")
        else:
            title.append(" \u00b7 token ")
            title.append(f"{self.target - base + 1}", Style(bold=True))
            title.append(f"/{len(self.ids) - base}")
            if self.where:
                title.append(f" of {safe_line(self.where)}", Style(dim=True))
        title.append(" \u00b7 chosen ")
        title.append(_cut(self._chosen_label(), 24), Style(bold=True, underline=True))
        self.query_one("#lens-title", Static).update(title)

    def _fill(self, result: LensResult) -> None:
        self._show_title()
        palette = heat_palette(self)
        last = len(result.layers) - 1
        note = Text(
            f"{safe_line(self.loaded.source.display_name)}: each layer's hidden state \u2192 "
            f"{safe_line(result.norm_name)} \u2192 lm_head \u2192 softmax. The top row is the model's "
            "output, its p; emb is the embeddings. Cells are coloured by p.",
        )
        self.query_one("#lens-note", Static).update(note)
        table: DataTable[Any] = self.query_one(DataTable)
        row, column = table.cursor_coordinate
        table.clear(columns=True)
        table.add_column("layer", key="layer")
        table.add_column(Text("p chosen"), key="chosen")
        for n in range(1, len(result.layers[0].candidates) + 1):
            table.add_column(f"#{n}", key=f"c{n}")
        for layer in reversed(result.layers):
            name = "out" if layer.layer == last else ("emb" if layer.layer == 0 else str(layer.layer))
            cells: list[Text] = [Text(f"{name:>4}", Style(bold=layer.layer == last))]
            chosen = Text(format_probability(layer.chosen_p), palette.style(layer.chosen_p))
            chosen.append(f" #{layer.chosen_rank}", Style(dim=True))
            cells.append(chosen)
            for candidate in layer.candidates:
                cell = Text(f"{_cut(candidate.token):<{LABEL_WIDTH}} ", palette.style(candidate.p))
                if candidate.token_id == result.chosen_id:
                    cell.stylize(Style(bold=True, underline=True))
                cell.append(short_probability(candidate.p), palette.style(candidate.p))
                cells.append(cell)
            table.add_row(*cells, key=str(layer.layer))
        table.move_cursor(
            row=min(row, last), column=min(max(column, 1), len(result.layers[0].candidates) + 1)
        )
        self._show_detail()

    @on(DataTable.CellHighlighted)
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        self._show_detail()

    def _show_detail(self) -> None:
        result = self.result
        if result is None:
            return
        table: DataTable[Any] = self.query_one(DataTable)
        row, column = table.cursor_coordinate
        layers = list(reversed(result.layers))
        if not 0 <= row < len(layers):
            return
        layer = layers[row]
        name = (
            "the output"
            if layer.layer == len(layers) - 1
            else ("the embeddings" if layer.layer == 0 else f"layer {layer.layer}")
        )
        text = Text(f"At {name}: ", Style(bold=True))
        if column >= 2 and column - 2 < len(layer.candidates):
            candidate = layer.candidates[column - 2]
            text.append(f"#{column - 1} ")
            text.append(safe_line(candidate.token), Style(bold=True))
            text.append(f" (id {candidate.token_id}) p = {candidate.p:.4g}; ")
        text.append("chosen ")
        text.append(safe_line(result.chosen), Style(bold=True))
        text.append(f" p = {layer.chosen_p:.4g}, rank {layer.chosen_rank}")
        detail = self.query_one("#lens-detail", Static)
        detail.set_class(False, "-error")
        detail.update(text)

    # --- actions ----------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        target = max(self.first, min(len(self.ids), self.target + delta))
        if target == self.target:
            return
        self.target = target
        self._show_title()
        self._compute()

    def action_close(self) -> None:
        self.dismiss(None)
