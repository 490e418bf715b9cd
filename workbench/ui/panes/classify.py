"""The Classify tab: text in, label bars out.

With the app's causal LM (the default), labels are scored zero-shot as continuations of an
editable template and each label's tokens are shown with their p; with a classifier model
(a folder or hub id typed in the model field), the bars are ``softmax(logits)`` over its labels
and each token is shown with its leave-one-out effect on the top label.

Threads: the forward passes (and loading a classifier) run on the engine thread through a
thread worker; the result comes back as a message. Every label, token and model name shown here
is data: it goes into ``rich.text.Text`` after ``safe_line``, never into markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from workbench.engine.classify import (
    DEFAULT_LABELS,
    DEFAULT_TEMPLATE,
    Classification,
    TokenEffect,
    check_template,
    check_text,
    parse_labels,
)
from workbench.engine.errors import WorkbenchError
from workbench.safetext import safe_line
from workbench.ui.panes.tokenizer import SafeTextArea

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

CHIP_STYLES = ("on #31456a", "on #5a3d5c")


def template_to_field(template: str) -> str:
    """A template on one input line: a newline is shown as ``\\n``."""
    return template.replace("\n", "\\n")


def field_to_template(value: str) -> str:
    return value.replace("\\n", "\n")


class LabelBars(Widget):
    """One bar per label, scaled to the most probable one; for zero-shot, each label's tokens."""

    DEFAULT_CSS = "LabelBars { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: Classification | None = None
        self.message = Text(
            "Type a text above, then Ctrl+L (or Enter in a field, or the button) to classify it.", style="dim"
        )

    def show(self, result: Classification | None, message: Text | None = None) -> None:
        self.result = result
        if message is not None:
            self.message = message
        self.refresh(layout=True)

    def render(self) -> Text:
        result = self.result
        if result is None:
            return self.message
        width = max(self.size.width, 20)
        names = [safe_line(s.label) for s in result.labels]
        name_width = min(max(len(n) for n in names), max(8, width // 3))
        bar_room = max(4, width - name_width - 9)
        top = result.top.p or 1.0
        out = Text(no_wrap=True, overflow="ellipsis")
        for n, (score, name) in enumerate(zip(result.labels, names, strict=True)):
            shown = name if len(name) <= name_width else name[: name_width - 1] + "\u2026"
            out.append(f"{shown:<{name_width}} ", style="bold" if n == 0 else "")
            out.append(f"{score.p:6.4f} ")
            cells = round(bar_room * score.p / top) if score.p > 0 else 0
            out.append("\u2588" * max(cells, 1 if score.p > 0 else 0), style="green" if n == 0 else "blue")
            out.append("\n")
        out.append("\u2192 ")
        out.append(names[0], style="bold green")
        out.append(f"  p = {result.top.p:.4f}\n")
        if result.method == "zero-shot":
            out.append("P(label) = product of p(token | prompt, earlier label tokens):\n", style="dim")
            for score, name in zip(result.labels, names, strict=True):
                out.append(f"{name[:name_width]:<{name_width}} ")
                for n, token in enumerate(score.tokens):
                    out.append(token.label, style=CHIP_STYLES[n % 2])
                    out.append(f" {token.p:.3g} ", style="dim")
                out.append("\n")
        else:
            if result.truncated:
                out.append(f"the text was cut to {result.input_tokens} tokens\n", style="yellow")
            if result.effects:
                out.append_text(effect_chips(result, width))
        out.rstrip()
        return out


def effect_chip(effect: TokenEffect) -> str:
    """``token +0.012``: the token as shown, and the change in the top label's p without it."""
    return f"{effect.label} {effect.delta:+.3f}"


def effect_chips(result: Classification, width: int) -> Text:
    """Each token's leave-one-out effect as chips, wrapped between chips to ``width``.

    Green: leaving the token out lowers the top label's p (the token supports it); red: raises
    it (the token speaks against it); the stronger the effect, the brighter the chip.
    """
    out = Text()
    out.append(
        f"\u0394p({safe_line(result.top.label)}) without each token "
        "(green: the token supports it, red: against it)\n",
        style="dim",
    )
    strongest = max(abs(e.delta) for e in result.effects) or 1.0
    column = 0
    for effect in result.effects:
        chip = safe_line(effect_chip(effect))
        if cell_len(chip) > width - 1:
            chip = set_cell_size(chip, max(1, width - 2)) + "\u2026"
        if column and column + cell_len(chip) + 1 > width:
            out.append("\n")
            column = 0
        elif column:
            out.append(" ")
            column += 1
        strength = abs(effect.delta) / strongest
        shade = int(40 + 100 * strength)
        background = (
            f"#{shade // 3:02x}{shade:02x}{shade // 3:02x}"
            if effect.delta < 0
            else (f"#{shade:02x}{shade // 3:02x}{shade // 3:02x}")
        )
        out.append(chip, style=f"on {background}")
        column += cell_len(chip)
    out.append("\n")
    return out


class _Classified(Message):
    """From the worker: the result (or the error) and the model it ran on."""

    def __init__(self, result: Classification | None, model: str, error: str | None) -> None:
        super().__init__()
        self.result, self.model, self.error = result, model, error


class ClassifyPane(Vertical):
    """Classify tab. Uses the app's loaded model unless a classifier is named in the model field."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+l", "classify", "Classify")]

    DEFAULT_CSS = """
    ClassifyPane { height: 1fr; }
    ClassifyPane #cls-status { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    ClassifyPane #cls-status.-error { color: $error; }
    ClassifyPane #cls-text { height: 5; min-height: 3; border: tall $border-blurred; }
    ClassifyPane #cls-text:focus { border: tall $border; }
    ClassifyPane .cls-row { height: 1; }
    ClassifyPane .cls-name { width: 10; padding: 0 1; color: $text-muted; }
    ClassifyPane .cls-row Input { width: 1fr; }
    ClassifyPane #cls-run { width: auto; min-width: 12; }
    ClassifyPane #cls-scroll { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.busy = False
        self.last: Classification | None = None
        # Engine thread only: the model named in the model field, kept for the next text.
        self._classifier: LoadedModel | None = None
        self._classifier_spec = ""

    def compose(self) -> ComposeResult:
        yield Static(Text("Label probabilities for a text."), id="cls-status")
        yield SafeTextArea(
            id="cls-text", soft_wrap=True, tab_behavior="focus", placeholder="The text to classify"
        )
        with Horizontal(classes="cls-row"):
            yield Static("Labels", classes="cls-name")
            yield Input(", ".join(DEFAULT_LABELS), id="cls-labels", compact=True)
        with Horizontal(classes="cls-row"):
            yield Static("Template", classes="cls-name")
            yield Input(template_to_field(DEFAULT_TEMPLATE), id="cls-template", compact=True)
        with Horizontal(classes="cls-row"):
            yield Static("Model", classes="cls-name")
            yield Input(
                placeholder="the app's model (zero-shot); or a classifier folder / hub id",
                id="cls-model",
                compact=True,
            )
            yield Button("Classify", id="cls-run", compact=True)
        with VerticalScroll(id="cls-scroll"):
            yield LabelBars(id="cls-bars")

    # --- actions --------------------------------------------------------------------------

    @on(Button.Pressed, "#cls-run")
    @on(Input.Submitted)
    def _submit(self, event: Message) -> None:
        event.stop()
        self.action_classify()

    def action_classify(self) -> None:
        if self.busy:
            self._status("Still classifying the last text\u2026")
            return
        text = self.query_one("#cls-text", SafeTextArea).text
        spec = self.query_one("#cls-model", Input).value.strip()
        try:
            check_text(text)
            labels = parse_labels(self.query_one("#cls-labels", Input).value)
            template = check_template(field_to_template(self.query_one("#cls-template", Input).value))
        except WorkbenchError as exc:
            self._status(str(exc), error=True)
            return
        loaded = getattr(self.app, "loaded", None)
        if not spec and (loaded is None or getattr(self.app, "_loading", None) is not None):
            self._status("The model is still loading; try again when it is ready.", error=True)
            return
        self.busy = True
        self.query_one("#cls-run", Button).disabled = True
        self._status(
            "Loading the classifier\u2026" if spec and spec != self._classifier_spec else "Classifying\u2026"
        )
        self._run(text, labels, template, spec, None if spec else loaded)

    @work(thread=True, exclusive=True, group="classify", exit_on_error=False)
    def _run(
        self,
        text: str,
        labels: tuple[str, ...],
        template: str,
        spec: str,
        loaded: LoadedModel | None,
    ) -> None:
        from workbench.engine import runner

        try:
            result, name = runner.run(self._classify_job, text, labels, template, spec, loaded)
            self.post_message(_Classified(result, name, None))
        except WorkbenchError as exc:
            self.post_message(_Classified(None, spec, str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown in the pane, never a crash
            self.post_message(_Classified(None, spec, f"{type(exc).__name__}: {exc}"))

    def _classify_job(
        self,
        text: str,
        labels: tuple[str, ...],
        template: str,
        spec: str,
        loaded: LoadedModel | None,
    ) -> tuple[Classification, str]:
        """Engine thread: load the named model if it changed, then classify."""
        from workbench.engine.classify import classify, is_classifier

        if spec:
            if spec != self._classifier_spec or self._classifier is None:
                from dataclasses import replace

                from workbench.engine.classifier_loading import load_for_classify

                settings = replace(
                    getattr(self.app, "load_settings", None) or _default_settings(), model=spec
                )
                old, self._classifier, self._classifier_spec = self._classifier, None, ""
                if old is not None:
                    old.release()
                self._classifier = load_for_classify(settings)
                self._classifier_spec = spec
            loaded = self._classifier
        assert loaded is not None
        if is_classifier(loaded):
            result = classify(loaded, text, effects=True)
        else:
            result = classify(loaded, text, labels, template)
        return result, loaded.source.display_name

    @on(_Classified)
    def _show_result(self, message: _Classified) -> None:
        self.busy = False
        self.query_one("#cls-run", Button).disabled = False
        if message.error is not None:
            self._status(message.error, error=True)
            self.query_one("#cls-bars", LabelBars).show(
                None
            )  # (old bars under a new error read as its result)
            return
        result = message.result
        assert result is not None
        self.last = result
        how = (
            "classifier: softmax(logits) over its own labels (Labels and Template are for zero-shot)"
            if result.method == "classifier"
            else f"zero-shot, {result.input_tokens} prompt tokens"
        )
        self._status(f"{message.model} \u00b7 {how}")
        self.query_one("#cls-bars", LabelBars).show(result)

    def _status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#cls-status", Static)
        status.update(Text(safe_line(message)))
        status.set_class(error, "-error")


def _default_settings() -> Any:
    from workbench.engine.settings import LoadSettings

    return LoadSettings()
