"""The Diff tab (F12): the app's model A against a model B that shares its vocabulary.

For a text: each token's KL(A‖B) as a heat strip (←/→ or a click moves the cursor), both
models' top-k for the token under the cursor side by side, and where they disagree most.
Model B is named in its field (empty: the same model as A) with its dtype, e.g. A in float32
against B in bfloat16.

Threads: model B is loaded, checked and run on the engine thread (engine/runner.py) through a
thread worker; its loading stages and the result come back as messages, so the screen never
waits. The pane owns B (engine thread only) and releases it, on the engine thread, when the
user leaves the tab or the pane goes away. Every token and error shown is data: built into
``rich.text.Text`` after ``safe_line``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Static, TabbedContent
from textual.widgets.option_list import Option

from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.engine.settings import DTYPES
from workbench.safetext import safe_line
from workbench.ui.panes.tokenizer import SafeTextArea

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel
    from workbench.engine.model_diff import DiffResult, TokenDiff
    from workbench.engine.progress import LoadProgress
    from workbench.engine.settings import LoadSettings

EXAMPLE = "The capital of France is Paris. It is known for the Eiffel Tower, museums and fine food."
DEFAULT_DTYPE_B = "bfloat16"
TOP_K = 5
MOST = 8
# KL relative to the text's largest, as heat: (at least this fraction of the max, style).
HEAT = (
    (0.75, "bold white on #b3261e"),
    (0.5, "black on #f08c28"),
    (0.25, "black on #e6c229"),
    (0.1, "black on #9ccc65"),
    (0.0, ""),
)


def heat_style(kl: float, top: float) -> str:
    ratio = kl / top if top > 0 else 0.0
    return next(style for low, style in HEAT if ratio >= low)


class KlStrip(Widget, can_focus=True):
    """The text's tokens, each coloured by its KL(A‖B); the cursor token is underlined."""

    DEFAULT_CSS = """
    KlStrip { height: auto; max-height: 4; padding: 0 1; }
    KlStrip:focus { background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "previous", show=False),
        Binding("right", "move(1)", "next", show=False),
        Binding("home", "move(-100000)", show=False),
        Binding("end", "move(100000)", show=False),
    ]
    cursor: reactive[int] = reactive(0)

    class Moved(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: DiffResult | None = None
        self.first_label = ""

    def show(self, result: DiffResult | None, first_label: str = "") -> None:
        self.result, self.first_label = result, first_label
        self.cursor = 0
        self.refresh(layout=True)
        self.post_message(self.Moved(0))

    def action_move(self, delta: int) -> None:
        if self.result is None or not self.result.tokens:
            return
        self.cursor = max(0, min(len(self.result.tokens) - 1, self.cursor + delta))

    def watch_cursor(self, index: int) -> None:
        self.refresh()
        self.post_message(self.Moved(index))

    def on_click(self, event: events.Click) -> None:
        index = event.style.meta.get("diff-token") if event.style else None
        if isinstance(index, int):
            self.cursor = index

    def render(self) -> Text:
        result = self.result
        if result is None:
            return Text("KL(A‖B) per token appears here.", style="dim")
        out = Text(overflow="fold")
        out.append(safe_line(self.first_label), style="dim")
        top = max((t.kl for t in result.tokens), default=0.0)
        for n, token in enumerate(result.tokens):
            style = Style.parse(heat_style(token.kl, top) or "none") + Style(meta={"diff-token": n})
            if n == self.cursor:
                style += Style(underline=True, bold=True, reverse=not heat_style(token.kl, top))
            out.append(safe_line(token.token), style=style)
        return out


class TopLists(Static):
    """Both models' top-k for the token under the cursor, side by side."""

    shown: Table | Text = Text("")  # what show() last drew (for tests: a Rich renderable)

    def show(self, token: TokenDiff | None, names: tuple[str, str]) -> None:
        if token is None:
            self.shown = Text("Both models' top candidates for the token under the cursor.", style="dim")
            self.update(self.shown)
            return
        head = Text.assemble(
            (f"#{token.position} ", "dim"),
            (safe_line(token.token), "bold"),
            f"  KL {token.kl:.3g}  pA {token.p_a:.4f}  pB {token.p_b:.4f}",
        )
        head.no_wrap, head.overflow = True, "ellipsis"
        grid = Table.grid(padding=(0, 1))
        for _ in range(2):
            grid.add_column(justify="right", style="dim")
            grid.add_column(no_wrap=True, overflow="ellipsis", max_width=12)
            grid.add_column(justify="right")
        grid.add_row(
            "", Text(safe_line(names[0]), style="bold"), "", "", Text(safe_line(names[1]), style="bold"), ""
        )
        for rank, (a, b) in enumerate(zip(token.top_a, token.top_b, strict=True), 1):
            grid.add_row(
                str(rank),
                Text(safe_line(a.token), style="green" if a.token_id == token.token_id else ""),
                f"{a.p:.4f}",
                str(rank),
                Text(safe_line(b.token), style="green" if b.token_id == token.token_id else ""),
                f"{b.p:.4f}",
            )
        self.shown = _stack(head, grid)
        self.update(self.shown)


def _stack(head: Text, grid: Table) -> Table:
    outer = Table.grid()
    outer.add_row(head)
    outer.add_row(grid)
    return outer


class _Progress(Message):
    """From the engine thread: a stage of loading or running model B (newer replaces older)."""

    def __init__(self, stage: str, fraction: float | None) -> None:
        super().__init__()
        self.stage, self.fraction = stage, fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, _Progress)


class _Diffed(Message):
    def __init__(self, result: DiffResult | None, names: tuple[str, str], error: str | None) -> None:
        super().__init__()
        self.result, self.names, self.error = result, names, error


class DiffPane(Vertical):
    """Diff tab. Model A is the app's model; model B is loaded here and released on leaving."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "diff", "Diff"),
        Binding("ctrl+o", "diff_reply", "The chat's reply"),
    ]

    DEFAULT_CSS = """
    DiffPane { height: 1fr; }
    DiffPane #diff-status { height: 1; padding: 0 1; color: $text-muted; }
    DiffPane #diff-status.-error { color: $error; height: auto; max-height: 3; }
    DiffPane #diff-text { height: 4; min-height: 3; border: tall $border-blurred; }
    DiffPane #diff-text:focus { border: tall $border; }
    DiffPane .diff-row { height: 1; }
    DiffPane .diff-name { width: 9; padding: 0 1; color: $text-muted; }
    DiffPane .diff-dtype-name { width: 7; color: $text-muted; }
    DiffPane #diff-model { width: 1fr; }
    DiffPane #diff-dtype { width: 10; }
    DiffPane #diff-run { width: auto; min-width: 8; }
    DiffPane #diff-bottom { height: 1fr; }
    DiffPane #diff-top { width: 1fr; padding: 0 1; }
    DiffPane #diff-most { width: 30; height: 1fr; border: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.busy = False
        self.result: DiffResult | None = None
        self.names = ("A", "B")
        self.stages: list[str] = []  # the loading stages seen (shown one at a time)
        # Engine thread only: model B, what it was loaded as, and the model A it was checked against.
        self._b: LoadedModel | None = None
        self._b_key: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("KL(A‖B) per token: the app's model A against model B."), id="diff-status")
        yield SafeTextArea(id="diff-text", soft_wrap=True, tab_behavior="focus", placeholder=EXAMPLE)
        with Horizontal(classes="diff-row"):
            yield Static("Model B", classes="diff-name")
            yield Input(
                placeholder="empty: the same model as A; or a hub id, folder or .gguf",
                id="diff-model",
                compact=True,
            )
            yield Static(" dtype ", classes="diff-dtype-name")
            yield Input(DEFAULT_DTYPE_B, id="diff-dtype", compact=True)
            yield Button("Diff", id="diff-run", compact=True)
        yield KlStrip(id="diff-strip")
        with Horizontal(id="diff-bottom"):
            yield TopLists(id="diff-top")
            yield OptionList(id="diff-most", compact=True)

    def on_mount(self) -> None:
        self.query_one(TopLists).show(None, self.names)
        tabs = next((t for t in self.ancestors if isinstance(t, TabbedContent)), None)
        if tabs is not None:
            self.watch(tabs, "active", self._tab_changed, init=False)

    def on_unmount(self) -> None:
        self.release_model_b()

    def _tab_changed(self, active: str) -> None:
        if active != "diff":
            self.release_model_b()

    # --- actions ----------------------------------------------------------------------------

    @on(Button.Pressed, "#diff-run")
    @on(Input.Submitted)
    def _submit(self, event: Message) -> None:
        event.stop()
        self.action_diff()

    def action_diff(self) -> None:
        self._start(self.query_one("#diff-text", SafeTextArea).text or EXAMPLE)

    def action_diff_reply(self) -> None:
        """Compare the chat's selected (or last) finished reply: its prompt and its token ids."""
        reply = self._chat_reply()
        if reply is None:
            self._status(
                "no finished reply in the chat to compare; write one in the chat (F2) first", error=True
            )
            return
        builder = self.app._prompt_builder(reply)  # type: ignore[attr-defined]
        self._start(None, (builder, [s.token_id for s in reply.steps]))

    def _chat_reply(self) -> Any:
        conversation = getattr(self.app, "conversation", None)
        if conversation is None or conversation.leaf is None or getattr(self.app, "generating", False):
            return None
        replies = [t for t in conversation.path(conversation.leaf) if t.is_reply and t.steps]
        return replies[-1] if replies else None

    def _start(self, text: str | None, reply: tuple[Any, list[int]] | None = None) -> None:
        if self.busy:
            self._status("Still comparing the last text\u2026")
            return
        spec = self.query_one("#diff-model", Input).value.strip()
        dtype = self.query_one("#diff-dtype", Input).value.strip() or DEFAULT_DTYPE_B
        loaded_a: LoadedModel | None = getattr(self.app, "loaded", None)
        try:
            if dtype not in DTYPES:
                raise SettingsError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
            if loaded_a is None:
                raise SettingsError(
                    "model A (the app's model) is not loaded yet; wait for it or load one (F4)"
                )
            if text is not None and not text.strip():
                raise SettingsError("the text is empty; type or paste some text")
        except WorkbenchError as exc:
            self._status(str(exc), error=True)
            return
        settings_b = replace(loaded_a.settings, model=spec or loaded_a.settings.model, dtype=dtype)
        self.busy = True
        self.stages = []
        self.query_one("#diff-run", Button).disabled = True
        self._status("Comparing\u2026")
        self._run(loaded_a, text, reply, settings_b)

    @work(thread=True, exclusive=True, group="diff", exit_on_error=False)
    def _run(
        self,
        loaded_a: LoadedModel,
        text: str | None,
        reply: tuple[Any, list[int]] | None,
        settings_b: LoadSettings,
    ) -> None:
        from workbench.engine import runner

        try:
            result, names = runner.run(self._diff_job, loaded_a, text, reply, settings_b)
            self.post_message(_Diffed(result, names, None))
        except WorkbenchError as exc:
            self.post_message(_Diffed(None, self.names, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in the pane, never a crash
            self.post_message(_Diffed(None, self.names, f"{type(exc).__name__}: {exc}"))

    def _diff_job(
        self,
        loaded_a: LoadedModel,
        text: str | None,
        reply: tuple[Any, list[int]] | None,
        settings_b: LoadSettings,
    ) -> tuple[DiffResult, tuple[str, str]]:
        """Engine thread: (re)load model B when it or model A changed, then compare the text,
        or a reply's ids after its prompt's (``reply``: the prompt builder and the reply's ids)."""
        from workbench.engine.model_diff import diff_ids, diff_text, load_model_b

        def report(progress: LoadProgress) -> None:
            self.post_message(_Progress(progress.stage, progress.fraction))

        key = (settings_b, id(loaded_a.model))
        if self._b is None or self._b_key != key:
            self._release_job()
            self._b = load_model_b(loaded_a, settings_b, progress=report)
            self._b_key = key
        self.post_message(_Progress("Running both models", None))
        if reply is not None:
            prompt_ids = list(reply[0](loaded_a.tokenizer).ids)
            ids = prompt_ids + reply[1]
            result = diff_ids(loaded_a, self._b, ids, TOP_K, start=len(prompt_ids))
        else:
            result = diff_text(loaded_a, self._b, text or EXAMPLE, TOP_K)
        names = (f"A {loaded_a.dtype_name}", f"B {self._b.dtype_name}")
        return result, names

    def release_model_b(self) -> None:
        """Hand model B back (on the engine thread, after any job queued before)."""
        from workbench.engine import runner

        runner.submit(self._release_job)

    def _release_job(self) -> None:
        old, self._b, self._b_key = self._b, None, None
        if old is not None:
            old.release()

    @property
    def holds_model_b(self) -> bool:
        return self._b is not None

    # --- messages ---------------------------------------------------------------------------

    @on(_Progress)
    def _show_progress(self, message: _Progress) -> None:
        message.stop()
        self.stages.append(message.stage)
        suffix = f" {message.fraction:.0%}" if message.fraction is not None else ""
        self._status(f"Model B: {message.stage}{suffix}\u2026")

    @on(_Diffed)
    def _show_result(self, message: _Diffed) -> None:
        message.stop()
        self.busy = False
        self.query_one("#diff-run", Button).disabled = False
        if message.error is not None:
            self._status(message.error, error=True)
            return
        result = message.result
        assert result is not None
        self.result, self.names = result, message.names
        loaded = getattr(self.app, "loaded", None)
        first_position = result.tokens[0].position - 1 if result.tokens else 0
        first = loaded.table.label(result.ids[first_position]) if loaded is not None else ""
        self._status(
            f"{message.names[0]} vs {message.names[1]} \u00b7 {len(result.tokens)} tokens \u00b7 "
            f"mean KL {result.mean_kl:.3g} nats \u00b7 \u2190/\u2192 moves"
        )
        most = self.query_one("#diff-most", OptionList)
        most.clear_options()
        most.add_option(Option(Text("Where they disagree most", style="bold"), disabled=True))
        top = max((t.kl for t in result.tokens), default=0.0)
        for token in result.most_different(MOST):
            index = token.position - 1
            label = Text.assemble(
                (f"{token.position:>3} ", "dim"),
                (safe_line(token.token)[:12].ljust(12), heat_style(token.kl, top)),
                f" {token.kl:.3g}",
            )
            most.add_option(Option(label, id=f"t{index}"))
        strip = self.query_one(KlStrip)
        strip.show(result, first)
        strip.focus()

    @on(KlStrip.Moved)
    def _cursor_moved(self, message: KlStrip.Moved) -> None:
        token = self.result.tokens[message.index] if self.result and self.result.tokens else None
        self.query_one(TopLists).show(token, self.names)

    @on(OptionList.OptionSelected, "#diff-most")
    @on(OptionList.OptionHighlighted, "#diff-most")
    def _jump(self, event: OptionList.OptionSelected | OptionList.OptionHighlighted) -> None:
        option_id = event.option.id
        if option_id and option_id.startswith("t"):
            self.query_one(KlStrip).cursor = int(option_id[1:])

    def _status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#diff-status", Static)
        status.update(Text(safe_line(message)))
        status.set_class(error, "-error")
