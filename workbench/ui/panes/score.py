"""The Score tab: paste a text, see how probable the model found each of its tokens.

Each token is coloured by its p (the chat's heat map palette and legend), with the perplexity
and the most surprising tokens; ``←`` ``→`` move a cursor over the tokens, and ``l`` opens the
logit lens of the token under it. A text longer than the window is scored window by window
(engine/scoring.py), with a progress bar; Esc stops it.

Threads: scoring runs on the engine thread through a thread worker with the app's model;
progress and the result come back as messages, each carrying the run's serial so a stale one
is dropped. The text and every token are data: ``rich.text.Text`` after ``safe_text``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from workbench.engine.errors import WorkbenchError
from workbench.safetext import safe_line, safe_text
from workbench.ui.panes.tokenizer import SafeTextArea
from workbench.ui.widgets.heat_legend import HeatLegend, heat_palette
from workbench.ui.widgets.token_render import format_probability

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel
    from workbench.engine.scoring import ScoreResult

EXAMPLE = "Paste or type a text, then Ctrl+L: e.g. The capital of France is Paris."
WORST_SHOWN = 10


class ScoredText(Widget, can_focus=True):
    """The scored text, each token coloured by its p; a cursor over the tokens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Previous token", show=False),
        Binding("right", "move(1)", "Next token", show=False),
        Binding("home", "edge(0)", "First token", show=False),
        Binding("end", "edge(1)", "Last token", show=False),
        Binding("l", "lens", "Logit lens"),
    ]
    DEFAULT_CSS = """
    ScoredText { height: auto; padding: 0 1; }
    ScoredText:focus { background: $boost; }
    """

    class Moved(Message):
        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

    class LensRequested(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: ScoreResult | None = None
        self.cursor: int | None = None

    def show(self, result: ScoreResult | None) -> None:
        self.result = result
        self.cursor = None
        self.refresh(layout=True)
        self.post_message(self.Moved(None))

    def render(self) -> Text:
        result = self.result
        if result is None:
            return Text(EXAMPLE, Style(dim=True))
        palette = heat_palette(self)
        text = Text()
        for token in result.tokens:
            piece = safe_text(token.text)
            style = Style(meta={"score_token": token.index})
            if not piece:  # (a byte of a split character: the cursor still needs a cell)
                piece = "\u25ab" if token.index == self.cursor else ""
            if token.p is None:
                style += Style(dim=True)
            else:
                style += palette.style(token.p)
            if token.index == self.cursor:
                style += Style(reverse=True, bold=True, underline=True)
            text.append(piece, style)
        return text

    def select(self, index: int | None) -> None:
        if self.result is None or not self.result.tokens:
            return
        if index is not None:
            index = max(0, min(index, len(self.result.tokens) - 1))
        if index != self.cursor:
            self.cursor = index
            self.refresh()
            self.post_message(self.Moved(index))

    def action_move(self, delta: int) -> None:
        if self.result is None:
            return
        if self.cursor is None:  # no cursor yet: the first or the last token
            self.select(0 if delta > 0 else len(self.result.tokens) - 1)
        else:
            self.select(self.cursor + delta)

    def action_edge(self, end: int) -> None:
        if self.result is not None:
            self.select(len(self.result.tokens) - 1 if end else 0)

    def action_lens(self) -> None:
        if self.cursor is not None:
            self.post_message(self.LensRequested(self.cursor))

    def on_focus(self, event: events.Focus) -> None:
        if self.cursor is None and self.result is not None and self.result.tokens:
            worst = self.result.most_surprising(1)
            self.select(worst[0].index if worst else 0)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = event.style.meta.get("score_token")
        if isinstance(index, int):
            event.stop()
            self.focus()
            self.select(index)


class _Scored(Message):
    def __init__(self, serial: int, result: ScoreResult | None, error: str | None, model: Any) -> None:
        super().__init__()
        self.serial, self.result, self.error, self.model = serial, result, error, model


class _Progress(Message):
    def __init__(self, serial: int, done: int, total: int) -> None:
        super().__init__()
        self.serial, self.done, self.total = serial, done, total


class ScorePane(Vertical):
    """Score tab. Scores with the app's model (the chat's)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "score", "Score"),
        Binding("escape", "stop", "Stop scoring", show=False),
    ]
    DEFAULT_CSS = """
    ScorePane { height: 1fr; }
    ScorePane #score-status { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    ScorePane #score-status.-error { color: $error; }
    ScorePane #score-text { height: 4; min-height: 3; border: tall $border-blurred; }
    ScorePane #score-text:focus { border: tall $border; }
    ScorePane .score-row { height: 1; }
    ScorePane #score-run { width: auto; min-width: 9; }
    ScorePane #score-progress { width: 1fr; padding: 0 1; display: none; }
    ScorePane #score-progress.-busy { display: block; }
    ScorePane #score-body { height: 1fr; }
    ScorePane #score-scroll { width: 1fr; }
    ScorePane #score-legend { dock: none; padding: 0 1; }
    ScorePane #score-worst { width: 30; height: 1fr; border: none; padding: 0; }
    ScorePane #score-detail { height: 1; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.busy = False
        self.last: ScoreResult | None = None
        self.scored_with: LoadedModel | None = None
        self._serial = 0
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(
            Text("How probable the model finds each token of a text: p, rank, surprisal, perplexity."),
            id="score-status",
        )
        yield SafeTextArea(id="score-text", soft_wrap=True, tab_behavior="focus", placeholder=EXAMPLE)
        with Horizontal(classes="score-row"):
            yield Button("Score", id="score-run", compact=True)
            yield ProgressBar(id="score-progress", show_eta=False)
        with Horizontal(id="score-body"):
            with VerticalScroll(id="score-scroll"):
                yield ScoredText(id="score-view")
            yield OptionList(id="score-worst")
        yield HeatLegend(id="score-legend")
        yield Static(id="score-detail")

    # --- scoring ----------------------------------------------------------------------

    @on(Button.Pressed, "#score-run")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_score()

    def action_score(self) -> None:
        text = self.query_one("#score-text", SafeTextArea).text
        if not text.strip():
            self._status("There is no text to score yet: type or paste one above.", error=True)
            return
        self._start(text)

    def score_tokens(self, ids: list[int], text: str) -> None:
        """Score token ids as they are (a chat's templated prompt and reply), showing ``text``."""
        self.query_one("#score-text", SafeTextArea).text = text
        self._start(list(ids))

    def _start(self, what: str | list[int]) -> None:
        if self.busy:
            self._status("Still scoring the last text\u2026 (Esc stops it)")
            return
        loaded = getattr(self.app, "loaded", None)
        if loaded is None or getattr(self.app, "_loading", None) is not None:
            loading = getattr(self.app, "_loading", None) is not None
            self._status(
                "The model is still loading: score once it is ready (the status line names it)."
                if loading
                else "No model is loaded (F4 Settings loads one).",
                error=True,
            )
            return
        self.busy = True
        self._stop.clear()
        self._serial += 1
        self.query_one("#score-run", Button).disabled = True
        bar = self.query_one("#score-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.add_class("-busy")
        waiting = " (after the chat's reply)" if getattr(self.app, "generating", False) else ""
        self._status(f"Scoring{waiting}\u2026 Esc stops it.")
        self._run(self._serial, loaded, what)

    @work(thread=True, exclusive=True, group="score", exit_on_error=False)
    def _run(self, serial: int, loaded: LoadedModel, what: str | list[int]) -> None:
        from workbench.engine import runner
        from workbench.engine.scoring import score_ids, score_text

        def progress(done: int, total: int) -> None:  # on the engine thread
            self.post_message(_Progress(serial, done, total))

        try:
            score: Any = score_text if isinstance(what, str) else score_ids
            result = runner.run(score, loaded, what, progress=progress, should_stop=self._stop.is_set)
            self.post_message(_Scored(serial, result, None, loaded))
        except WorkbenchError as exc:
            self.post_message(_Scored(serial, None, str(exc), loaded))
        except Exception as exc:  # noqa: BLE001 - shown in the pane, never a crash
            self.post_message(_Scored(serial, None, f"{type(exc).__name__}: {exc}", loaded))

    @on(_Progress)
    def _progressed(self, message: _Progress) -> None:
        if message.serial == self._serial and self.busy:
            self.query_one("#score-progress", ProgressBar).update(
                total=max(1, message.total), progress=message.done
            )

    @on(_Scored)
    def _show_result(self, message: _Scored) -> None:
        if message.serial != self._serial:
            return
        self.busy = False
        self.query_one("#score-run", Button).disabled = False
        self.query_one("#score-progress", ProgressBar).remove_class("-busy")
        if message.error is not None:
            self._status(message.error, error=True)
            return
        result = message.result
        assert result is not None
        self.last, self.scored_with = result, message.model
        self.query_one("#score-legend", HeatLegend).show(True)
        self.query_one("#score-view", ScoredText).show(result)
        self._status(self._summary(result, message.model))
        focused = self.app.focused
        if focused is not None and self in focused.ancestors:  # (not when the user went elsewhere)
            self.query_one("#score-view", ScoredText).focus()  # the cursor on the most surprising token
        worst = self.query_one("#score-worst", OptionList)
        worst.clear_options()
        rows = result.most_surprising(WORST_SHOWN)
        if rows:
            worst.add_option(Option(Text("Most surprising", Style(bold=True)), disabled=True))
        for token in rows:
            assert token.p is not None and token.bits is not None
            prompt = Text(f"{token.bits:5.1f} bits ", Style(dim=True))
            prompt.append(safe_line(token.token)[:14], Style(bold=True))
            prompt.append(f" {format_probability(token.p).strip()}", Style(dim=True))
            worst.add_option(Option(prompt, id=str(token.index)))

    def _summary(self, result: ScoreResult, model: Any) -> str:
        scored = len(result.scored)
        name = safe_line(model.source.display_name)
        if not scored:
            return f"{name}: one token, nothing to predict it from: no perplexity."
        passes = f"{result.windows} pass{'es' if result.windows != 1 else ''}"
        return (
            f"{name} \u00b7 perplexity {result.perplexity:.3f} ({result.mean_bits:.2f} bits a token) over "
            f"{scored} tokens \u00b7 window {result.window}, stride {result.stride}, {passes}"
        )

    def action_stop(self) -> None:
        if self.busy:
            self._stop.set()
            self._status("Stopping after this window\u2026")
        else:
            stop = getattr(self.app, "action_stop", None)
            if callable(stop):  # Esc everywhere else stops the chat's reply
                stop()

    # --- the cursor -------------------------------------------------------------------

    @on(ScoredText.Moved)
    def _moved(self, message: ScoredText.Moved) -> None:
        detail = self.query_one("#score-detail", Static)
        result = self.last
        if message.index is None or result is None:
            detail.update("")
            return
        token = result.tokens[message.index]
        text = Text(f"Token {token.index + 1}/{len(result.tokens)} ")
        text.append(safe_line(token.token), Style(bold=True))
        if token.p is None or token.rank is None or token.bits is None:
            text.append(" \u00b7 the first token: nothing before it predicts it", Style(dim=True))
        else:
            text.append(f" \u00b7 p {format_probability(token.p).strip()} \u00b7 rank {token.rank}")
            text.append(f" \u00b7 {token.bits:.2f} bits \u00b7 l: logit lens", Style(dim=True))
        detail.update(text)
        self._scroll_to_cursor(message.index)

    def _scroll_to_cursor(self, index: int) -> None:
        """Keep the cursor's row in view: find it in the text as wrapped at the view's width."""
        view = self.query_one("#score-view", ScoredText)
        width = view.content_region.width
        if width <= 0 or self.last is None:
            return
        offset = sum(len(safe_text(t.text)) for t in self.last.tokens[:index])
        lines = view.render().wrap(self.app.console, width)
        row, seen = 0, 0
        for row, line in enumerate(lines):  # noqa: B007 - the row is the answer
            seen += len(line.plain)
            if seen > offset:
                break
        scroll = self.query_one("#score-scroll", VerticalScroll)
        top = view.virtual_region.y + row  # the cursor's row in the scrolled content
        height = scroll.scrollable_content_region.height
        if not scroll.scroll_y <= top < scroll.scroll_y + height:
            scroll.scroll_to(y=max(0, top - height // 2), animate=False)

    @on(OptionList.OptionSelected, "#score-worst")
    def _worst_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            view = self.query_one("#score-view", ScoredText)
            view.focus()
            view.select(int(event.option.id))

    @on(ScoredText.LensRequested)
    def _lens(self, message: ScoredText.LensRequested) -> None:
        result = self.last
        if result is None:
            return
        if message.index == 0:
            self.app.notify(
                "The first token has nothing before it: no prediction to look into.", severity="warning"
            )
            return
        if getattr(self.app, "loaded", None) is not self.scored_with:
            self.app.notify(
                "The model changed since this text was scored: score it again.", severity="warning"
            )
            return
        open_lens = getattr(self.app, "open_lens", None)
        if callable(open_lens):
            open_lens([t.token_id for t in result.tokens], message.index, "the scored text")

    def _status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#score-status", Static)
        status.update(Text(safe_line(message)))
        status.set_class(error, "-error")
