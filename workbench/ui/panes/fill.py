"""The Fill tab: a text with [MASK] in it, a masked language model, the top-k candidates per mask.

The app's own model is a causal LM, so this tab loads the masked LM named in its model field
(a hub id or a local folder) and keeps it for the next text.

Threads: loading and the forward pass run on the engine thread through a thread worker; the
result comes back as a message. Every token, model name and error shown here is data: it goes
into ``rich.text.Text`` after ``safe_line``, never into markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.engine.fillmask import DEFAULT_TOP_K, EXAMPLE, FillResult, check_text
from workbench.engine.masked_lm_loading import EXAMPLE_MODEL, check_masked_lm
from workbench.engine.settings import check_top_k
from workbench.engine.sources import resolve_source
from workbench.safetext import safe_line
from workbench.ui.panes.tokenizer import SafeTextArea

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel


class MaskBars(Widget):
    """For each mask, its candidates as rows: rank, token, p and a bar scaled to the top one."""

    DEFAULT_CSS = "MaskBars { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: FillResult | None = None

    def show(self, result: FillResult | None) -> None:
        self.result = result
        self.refresh(layout=True)

    def render(self) -> Text:
        result = self.result
        if result is None:
            return Text(
                f"Write a text with [MASK] above, e.g. {EXAMPLE!r}, name a masked language model, "
                "then Ctrl+L (or Enter in a field, or the button).",
                style="dim",
            )
        width = max(self.size.width, 24)
        out = Text(no_wrap=True, overflow="ellipsis")
        count = len(result.masks)
        # One column width for every mask, so their rows line up.
        longest = max(len(safe_line(c.token)) for mask in result.masks for c in mask.candidates)
        name_width = min(longest, max(8, width // 4))
        bar_room = max(4, width - name_width - 18)
        for n, mask in enumerate(result.masks, 1):
            out.append(f"Mask {n} of {count} \u00b7 token position {mask.position}\n", style="bold")
            names = [safe_line(c.token) for c in mask.candidates]
            top = mask.top.p or 1.0
            for rank, (candidate, name) in enumerate(zip(mask.candidates, names, strict=True), 1):
                shown = name if len(name) <= name_width else name[: name_width - 1] + "\u2026"
                first = rank == 1
                out.append(f"{rank:>2} ", style="dim")
                out.append(f"{shown:<{name_width}} ", style="bold" if first else "")
                out.append(f"{candidate.token_id:>6} ", style="dim")
                out.append(f"{candidate.p:6.4f} ")
                cells = round(bar_room * candidate.p / top) if candidate.p > 0 else 0
                out.append(
                    "\u2588" * max(cells, 1 if candidate.p > 0 else 0), style="green" if first else "blue"
                )
                out.append("\n")
        if result.filled:
            out.append("\u2192 ")
            out.append(safe_line(result.filled), style="bold green")
        out.rstrip()
        return out


class _Filled(Message):
    """From the worker: the result (or the error) and the model it ran on."""

    def __init__(self, result: FillResult | None, model: str, error: str | None) -> None:
        super().__init__()
        self.result, self.model, self.error = result, model, error


class FillPane(Vertical):
    """Fill tab. Runs the masked language model named in its model field."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+l", "fill", "Fill")]

    DEFAULT_CSS = """
    FillPane { height: 1fr; }
    FillPane #fill-status { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    FillPane #fill-status.-error { color: $error; }
    FillPane #fill-text { height: 4; min-height: 3; border: tall $border-blurred; }
    FillPane #fill-text:focus { border: tall $border; }
    FillPane .fill-row { height: 1; }
    FillPane .fill-name { width: 10; padding: 0 1; color: $text-muted; }
    FillPane .fill-k-name { width: 7; color: $text-muted; }
    FillPane #fill-model { width: 1fr; }
    FillPane #fill-top-k { width: 6; }
    FillPane #fill-run { width: auto; min-width: 8; }
    FillPane #fill-scroll { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.busy = False
        self.last: FillResult | None = None
        # Engine thread only: the model named in the model field, kept for the next text.
        self._model: LoadedModel | None = None
        self._model_spec = ""

    def compose(self) -> ComposeResult:
        yield Static(
            Text("The most probable tokens for each [MASK], from a masked language model."), id="fill-status"
        )
        yield SafeTextArea(id="fill-text", soft_wrap=True, tab_behavior="focus", placeholder=EXAMPLE)
        with Horizontal(classes="fill-row"):
            yield Static("Model", classes="fill-name")
            yield Input(
                placeholder=f"a masked LM: a hub id such as {EXAMPLE_MODEL}, or a local folder",
                id="fill-model",
                compact=True,
            )
            yield Static(" top-k ", classes="fill-k-name")
            yield Input(str(DEFAULT_TOP_K), id="fill-top-k", compact=True)
            yield Button("Fill", id="fill-run", compact=True)
        with VerticalScroll(id="fill-scroll"):
            yield MaskBars(id="fill-bars")

    # --- actions --------------------------------------------------------------------------

    @on(Button.Pressed, "#fill-run")
    @on(Input.Submitted)
    def _submit(self, event: Message) -> None:
        event.stop()
        self.action_fill()

    def action_fill(self) -> None:
        if self.busy:
            self._status("Still filling the last text\u2026")
            return
        text = self.query_one("#fill-text", SafeTextArea).text
        spec = self.query_one("#fill-model", Input).value.strip()
        try:
            check_text(text)
            top_k = check_top_k(self.query_one("#fill-top-k", Input).value)
            if not spec:
                raise SettingsError(
                    "name a masked language model in the Model field, e.g. "
                    f"{EXAMPLE_MODEL} (a hub id) or a local folder; the app's own model is a causal LM"
                )
            source = resolve_source(spec)  # the file system only: a bad path is said at once
            if source.kind in {"bundled", "gguf"}:  # causal by kind, refused without the engine thread
                check_masked_lm(source, _default_settings())
        except WorkbenchError as exc:
            self._status(str(exc), error=True)
            return
        self.busy = True
        self.query_one("#fill-run", Button).disabled = True
        self._status(f"Loading {spec}\u2026" if spec != self._model_spec else "Filling\u2026")
        self._run(text, top_k, spec)

    @work(thread=True, exclusive=True, group="fill", exit_on_error=False)
    def _run(self, text: str, top_k: int, spec: str) -> None:
        from workbench.engine import runner

        try:
            result, name = runner.run(self._fill_job, text, top_k, spec)
            self.post_message(_Filled(result, name, None))
        except WorkbenchError as exc:
            self.post_message(_Filled(None, spec, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in the pane, never a crash
            self.post_message(_Filled(None, spec, f"{type(exc).__name__}: {exc}"))

    def _fill_job(self, text: str, top_k: int, spec: str) -> tuple[FillResult, str]:
        """Engine thread: load the named model if it changed, then fill."""
        from workbench.engine.fillmask import fill

        if spec != self._model_spec or self._model is None:
            from dataclasses import replace

            from workbench.engine.masked_lm_loading import load_masked_lm

            settings = replace(getattr(self.app, "load_settings", None) or _default_settings(), model=spec)
            old, self._model, self._model_spec = self._model, None, ""
            if old is not None:
                old.release()
            self._model = load_masked_lm(settings)
            self._model_spec = spec
        return fill(self._model, text, top_k), self._model.source.display_name

    @on(_Filled)
    def _show_result(self, message: _Filled) -> None:
        self.busy = False
        self.query_one("#fill-run", Button).disabled = False
        if message.error is not None:
            self._status(message.error, error=True)
            self.query_one("#fill-bars", MaskBars).show(
                None
            )  # (old bars under a new error read as its result)
            return
        result = message.result
        assert result is not None
        self.last = result
        masks = len(result.masks)
        self._status(
            f"{message.model} \u00b7 {masks} mask{'s' if masks != 1 else ''} \u00b7 p = softmax(logits) at each mask"
        )
        self.query_one("#fill-bars", MaskBars).show(result)

    def _status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#fill-status", Static)
        status.update(Text(safe_line(message)))
        status.set_class(error, "-error")


def _default_settings() -> Any:
    from workbench.engine.settings import LoadSettings

    return LoadSettings()
