"""The settings tab: model source, sampling, display. Every value is validated where it is typed.

The pane owns no state that matters to the rest of the app: it shows a ``Config``, checks
each field with the same dataclasses the engine and the config file use (so the inline
error is exactly the ``SettingsError`` message), and posts a message when a *valid* change
happens. The app applies and saves it.

- Sampling and display changes apply on every valid edit (``SamplingChanged``/``UiChanged``).
- The fields themselves (parsing, validation, messages) are in settings_fields.py.
- Model, device, dtype, trust-remote-code, max memory, quantize and compile are only applied
  when the user asks, because a reload takes seconds to minutes (``LoadRequested``).
- A change is posted only when the validated settings differ from the last ones posted or
  given with ``set_config``: typing ``0.70`` after ``0.7`` or resuming a session is silent.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static, Switch, TextArea

from workbench.config import Config, UiSettings
from workbench.engine.errors import SettingsError
from workbench.engine.settings import (
    DTYPES,
    QUANTIZE,
    LoadSettings,
    SamplingSettings,
)
from workbench.safetext import safe_line
from workbench.ui.panes.settings_fields import (
    QUANTIZE_SHOWN,
    TEXT_FIELDS,
    Group,
    SettingValidator,
    as_text,
    user_message,
)


class SettingsPane(VerticalScroll, can_focus=False):
    """Model, sampling and display settings; posts validated changes for the app to apply."""

    # Width at which the sections go side by side (two columns of about 75 cells).
    WIDE = 150

    # Priority: the focus moves as Tab is read, so what is typed right after it goes into the
    # next field. Without it Textual hands Tab to the field, which passes it up to the app's
    # binding, and the keys read meanwhile went into the field being left.
    BINDINGS = [
        Binding("tab", "move_focus(1)", "Next field", show=False, priority=True),
        Binding("shift+tab", "move_focus(-1)", "Previous field", show=False, priority=True),
    ]

    DEFAULT_CSS = """
    SettingsPane {
        padding: 0 1;
        & #set-sections { layout: grid; grid-size: 1; grid-rows: auto; grid-gutter: 0 3; height: auto; }
        &.-wide #set-sections { grid-size: 2; }
        &.-wide #set-section-sampling { row-span: 2; }
        & .set-section { height: auto; max-width: 110; }
        & .section { margin-top: 1; padding: 0 1; color: $text-primary; text-style: bold; }
        & .section-note { padding: 0 1; color: $text-muted; }
        & .field { height: auto; }
        & .field-text { width: 26; height: auto; padding: 1 1 0 1; }
        & .field-help { color: $text-muted; }
        & .field-control { width: 1fr; height: auto; }
        & .field-error { display: none; padding: 0 1; color: $text-error; }
        & .field-error.-shown { display: block; }
        & Select { max-width: 44; }
        & #set-scale-up { height: auto; }
        & .field.compact { margin-top: 1; }
        & .field.compact .field-text { padding: 0 1; }
        & #set-server-row { height: 1; }
        & #set-server-row Input { width: 1fr; min-width: 12; height: 1; border: none; padding: 0 1; }
        & #set-server-row #set-server { width: 2fr; margin-right: 1; }
        & #set-scale-up Input { width: 1fr; min-width: 12; }
        & #set-scale-up Select { width: 17; }
        & #set-compile-label { width: auto; padding: 1 0 0 1; }
        & #set-system-prompt { height: 6; }
        & #set-load-row { height: auto; padding-left: 26; }
        & #set-load-state { width: 1fr; height: auto; padding: 1 1 0 2; }
    }
    """

    class SamplingChanged(Message):
        """The sampling fields form a new, valid ``SamplingSettings``."""

        def __init__(self, settings: SamplingSettings) -> None:
            super().__init__()
            self.settings = settings

    class UiChanged(Message):
        """Theme, candidates shown, system prompt or heat map changed to a valid set."""

        def __init__(self, ui: UiSettings) -> None:
            super().__init__()
            self.ui = ui

    class ServerRequested(Message):
        """The user asked to attach to an OpenAI-compatible server (model None: its first)."""

        def __init__(self, url: str, model: str | None) -> None:
            super().__init__()
            self.url = url
            self.model = model

    class LoadRequested(Message):
        """The user asked to (re)load the model with these settings."""

        def __init__(self, load: LoadSettings) -> None:
            super().__init__()
            self.load = load

    def __init__(
        self,
        config: Config,
        *,
        id: str | None = "settings",
        name: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, name=name, classes=classes)
        # Baselines: a change is posted only when the validated value differs from these.
        self._config = config
        self._sampling = config.sampling
        self._ui = config.ui
        self._load_state = ""
        self._theme_list: list[tuple[str, str]] = []  # what the theme selector lists now

    # --- public interface -------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The settings as last posted or set (model = as last given with ``set_config``)."""
        return Config(model=self._config.model, sampling=self._sampling, ui=self._ui)

    def set_config(self, config: Config) -> None:
        """Show ``config`` in every field without posting change messages."""
        self._config, self._sampling, self._ui = config, config.sampling, config.ui
        if not self.is_mounted:
            return  # compose() will read the new config
        with self.prevent(Input.Changed, Switch.Changed, Select.Changed, TextArea.Changed):
            values = {
                **config.model.to_dict(),
                **config.sampling.to_dict(),
                "top_k_shown": config.ui.top_k_shown,
            }
            for widget_id, field in TEXT_FIELDS.items():
                self._show_value(self.query_one(f"#{widget_id}", Input), values[field.key])
                self._show_error(widget_id, "")
            self.query_one("#set-dtype", Select).value = config.model.dtype
            self.query_one("#set-trust", Switch).value = config.model.trust_remote_code
            self.query_one("#set-quantize", Select).value = config.model.quantize
            self.query_one("#set-compile", Switch).value = config.model.compile
            self.query_one("#set-do-sample", Switch).value = config.sampling.do_sample
            self.query_one("#set-heatmap", Switch).value = config.ui.heatmap
            prompt = self.query_one("#set-system-prompt", TextArea)
            if prompt.text != config.ui.system_prompt:
                prompt.load_text(config.ui.system_prompt)
            self.refresh_themes()

    def set_load_state(self, text: str) -> None:
        """The short line beside the Load button: progress, what is loaded, or an error."""
        self._load_state = text
        if self.is_mounted:
            self.query_one("#set-load-state", Static).update(Text(safe_line(text)))

    def refresh_themes(self) -> None:
        """Re-list the app's themes in the theme selector (call after registering more)."""
        try:
            select = self.query_one("#set-theme", Select)
        except NoMatches:  # called back after the pane was taken down
            return
        options = self._theme_options()
        if options != self._theme_list:
            self._theme_list = options
            with self.prevent(Select.Changed):
                select.set_options(options)
        with self.prevent(Select.Changed):
            select.value = self._ui.theme

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        config = self._config
        values = {**config.model.to_dict(), **config.sampling.to_dict(), "top_k_shown": config.ui.top_k_shown}

        def text_field(widget_id: str, **kwargs: Any) -> Widget:
            field = TEXT_FIELDS[widget_id]
            control = Input(
                as_text(values[field.key]),
                id=widget_id,
                validators=[SettingValidator(field)],
                **kwargs,
            )
            return self._row(field.label, field.help, control)

        # Three sections; side by side when the pane is wide (see on_resize), stacked otherwise.
        with Grid(id="set-sections"):
            with Vertical(id="set-section-model", classes="set-section"):
                yield Static("Model", classes="section")
                yield Static(
                    "Applied when you press Load model (or Enter in these two fields).",
                    classes="section-note",
                )
                yield text_field("set-model", placeholder="default")
                yield text_field(
                    "set-device", suggester=SuggestFromList(["auto", "cpu", "cuda", "cuda:0", "mps"])
                )
                dtype = Select(
                    [(name, name) for name in DTYPES],
                    value=config.model.dtype,
                    allow_blank=False,
                    id="set-dtype",
                )
                yield self._row("Dtype", "auto = chosen for the device", dtype)
                trust = Switch(config.model.trust_remote_code, id="set-trust")
                yield self._row("Trust remote code", "let a hub model run its own Python code", trust)
                yield self._scale_up_row(config.model)
                yield self._server_row()
                with Horizontal(id="set-load-row"):
                    yield Button("Load model", id="set-load", variant="primary")
                    yield Static(Text(safe_line(self._load_state)), id="set-load-state")

            with Vertical(id="set-section-sampling", classes="set-section"):
                yield Static("Sampling", classes="section")
                yield Static("Applies from the next token.", classes="section-note")
                do_sample = Switch(config.sampling.do_sample, id="set-do-sample")
                yield self._row("Sample", "off = always the most likely token", do_sample)
                for widget_id, field in TEXT_FIELDS.items():
                    if field.group == "sampling":
                        placeholder = {"seed": "none", "stop": "none, e.g. \\n\\n | User:"}.get(field.key, "")
                        yield text_field(widget_id, placeholder=placeholder)

            with Vertical(id="set-section-display", classes="set-section"):
                yield Static("Display", classes="section")
                yield Static("Applies at once.", classes="section-note")
                yield text_field("set-top-k-shown")
                prompt = TextArea(
                    config.ui.system_prompt, id="set-system-prompt", soft_wrap=True, tab_behavior="focus"
                )
                yield self._row("System prompt", "sent before the conversation; may be empty", prompt)
                self._theme_list = self._theme_options()
                theme = Select(self._theme_list, value=config.ui.theme, allow_blank=False, id="set-theme")
                yield self._row("Theme", "themes/*.toml and your config folder", theme)
                heatmap = Switch(config.ui.heatmap, id="set-heatmap")
                yield self._row("Heat map", "colour reply tokens by probability", heatmap)

    @staticmethod
    def _scale_up_row(load: LoadSettings) -> Widget:
        """Max memory, quantize and compile on one row, so the pane still fits one 200x50 screen."""
        field = TEXT_FIELDS["set-max-memory"]
        max_memory = Input(
            as_text(load.max_memory),
            id="set-max-memory",
            placeholder="none",
            validators=[SettingValidator(field)],
        )
        max_memory.tooltip = f"{field.label}: {field.help}"
        quantize = Select(
            [(QUANTIZE_SHOWN[name], name) for name in QUANTIZE],
            value=load.quantize,
            allow_blank=False,
            id="set-quantize",
        )
        quantize.tooltip = "Quantize: 8- or 4-bit weights through bitsandbytes (CUDA only)"
        compiled = Switch(load.compile, id="set-compile")
        compiled.tooltip = "Compile: static KV cache + torch.compile'd decoding step, compiled at load"
        return Horizontal(
            Vertical(
                Static("Scale up", classes="field-label"),
                Static(
                    "max memory per device (device auto), e.g. 0=20GiB,cpu=64GiB · quantize · compile",
                    classes="field-help",
                ),
                classes="field-text",
            ),
            Vertical(
                Horizontal(
                    max_memory,
                    quantize,
                    Static("compile", id="set-compile-label"),
                    compiled,
                    id="set-scale-up",
                ),
                Static("", id="set-max-memory-error", classes="field-error"),
                classes="field-control",
            ),
            classes="field",
        )

    def _server_row(self) -> Widget:
        """An OpenAI-compatible server instead of the model above: one compact line (the pane
        still fits one 200x50 screen)."""
        url = Input(self._server[0], id="set-server", placeholder="server URL (none: this process)")
        url.tooltip = (
            "An OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (vLLM, llama.cpp, SGLang, "
            "TGI, Ollama, OpenAI): replies come from it. The API key is read from WORKBENCH_API_KEY "
            "or OPENAI_API_KEY and never saved."
        )
        model = Input(self._server[1], id="set-server-model", placeholder="model (first of /v1/models)")
        model.tooltip = "The server's model; empty: the first of its /v1/models"
        return Horizontal(
            Vertical(Static("Server", classes="field-label"), classes="field-text"),
            Horizontal(url, model, id="set-server-row", classes="field-control"),
            classes="field compact",
        )

    @staticmethod
    def _row(label: str, help_text: str, control: Widget) -> Widget:
        """Label and one-line help on the left; the control with its error line on the right."""
        return Horizontal(
            # Static, not Label: the help wraps in the narrow column at 80 columns.
            Vertical(
                Static(label, classes="field-label"),
                Static(help_text, classes="field-help"),
                classes="field-text",
            ),
            Vertical(
                control, Static("", id=f"{control.id}-error", classes="field-error"), classes="field-control"
            ),
            classes="field",
        )

    def _theme_options(self) -> list[tuple[str, str]]:
        """All the app's themes, sorted; the configured one is kept even if it is missing, so
        that a theme registered a moment later (or a deleted file) never rewrites the config."""
        available = set(self.app.available_themes)
        names = sorted(available | {self._ui.theme})
        return [(name if name in available else f"{name} (not found)", name) for name in names]

    def on_resize(self) -> None:
        self.set_class(self.size.width >= self.WIDE, "-wide")

    def on_mount(self) -> None:
        # set_load_state() may have been called between compose() and now.
        self.query_one("#set-load-state", Static).update(Text(safe_line(self._load_state)))
        # The app registers its themes in its own on_mount, which runs after ours.
        self.call_after_refresh(self.refresh_themes)
        # Follow theme changes made elsewhere so the field never shows a stale theme.
        self.app.theme_changed_signal.subscribe(self, self._app_theme_changed)

    def _app_theme_changed(self, theme: Theme) -> None:
        # Changed elsewhere (the command palette, or the app applying our UiChanged): show it
        # without posting; the app already knows and persists its own theme changes.
        self._ui = replace(self._ui, theme=theme.name)
        self.refresh_themes()

    def action_move_focus(self, direction: int) -> None:
        if direction > 0:
            self.screen.focus_next()
        else:
            self.screen.focus_previous()

    # --- events -----------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "set-server":
            label = "Attach to server" if event.value.strip() else "Load model"
            self.query_one("#set-load", Button).label = label
            return
        field = TEXT_FIELDS.get(event.input.id or "")
        if field is None:
            return
        event.stop()
        result = event.validation_result
        self._show_error(
            event.input.id or "", "" if result is None or result.is_valid else result.failure_descriptions[0]
        )
        self._apply(field.group)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("set-server", "set-server-model"):
            event.stop()
            self._request_load()
            return
        field = TEXT_FIELDS.get(event.input.id or "")
        if field is None:
            return
        event.stop()
        if field.group == "load":
            self._request_load()
        else:
            self.screen.focus_next()  # Enter moves on, as in a form

    def on_switch_changed(self, event: Switch.Changed) -> None:
        groups: dict[str, Group] = {
            "set-do-sample": "sampling",
            "set-heatmap": "ui",
            "set-trust": "load",
            "set-compile": "load",
        }
        if event.switch.id in groups:
            event.stop()
            self._apply(groups[event.switch.id])

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("set-theme", "set-dtype", "set-quantize"):
            event.stop()
            self._apply("ui" if event.select.id == "set-theme" else "load")

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id == "set-system-prompt":
            event.stop()
            self._apply("ui")

    _server: tuple[str, str] = ("", "")

    def set_server(self, url: str, model: str) -> None:
        """The server attached (shown in its fields; empty: none)."""
        self._server = (url, model)
        if self.is_mounted:
            self.query_one("#set-server", Input).value = url
            self.query_one("#set-server-model", Input).value = model

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "set-load":
            event.stop()
            self._request_load()

    # --- validation and posting -------------------------------------------------------

    def _apply(self, group: Group) -> None:
        """Post the group's settings if every field in it is valid and something changed."""
        if group == "sampling":
            sampling = self._read_sampling()
            if sampling is not None and sampling != self._sampling:
                self._sampling = sampling
                self.post_message(self.SamplingChanged(sampling))
        elif group == "ui":
            ui = self._read_ui()
            if ui is not None and ui != self._ui:
                self._ui = ui
                self.post_message(self.UiChanged(ui))
        # "load": nothing to post until the user asks; the inline errors are already shown.

    def _values(self, group: Group) -> dict[str, Any] | None:
        """The parsed text fields of a group, or None while any of them is invalid."""
        values: dict[str, Any] = {}
        for widget_id, field in TEXT_FIELDS.items():
            if field.group != group:
                continue
            try:
                values[field.key] = field.parse(self.query_one(f"#{widget_id}", Input).value)
            except SettingsError:
                return None
        return values

    def _read_sampling(self) -> SamplingSettings | None:
        values = self._values("sampling")
        if values is None:
            return None
        return SamplingSettings(do_sample=self.query_one("#set-do-sample", Switch).value, **values)

    def _read_ui(self) -> UiSettings | None:
        values = self._values("ui")
        theme = self.query_one("#set-theme", Select).value
        if values is None or not isinstance(theme, str):
            return None
        try:
            return UiSettings(
                theme=theme,
                system_prompt=self.query_one("#set-system-prompt", TextArea).text,
                heatmap=self.query_one("#set-heatmap", Switch).value,
                **values,
            )
        except SettingsError:
            return None

    def _request_load(self) -> None:
        url = self.query_one("#set-server", Input).value.strip()
        if url:  # a server instead of a model in this process
            model = self.query_one("#set-server-model", Input).value.strip()
            self.post_message(self.ServerRequested(url, model or None))
            return
        invalid: list[Input] = []
        for widget_id, field in TEXT_FIELDS.items():
            if field.group == "load":
                control = self.query_one(f"#{widget_id}", Input)
                result = control.validate(control.value)
                if result is not None and not result.is_valid:
                    self._show_error(widget_id, result.failure_descriptions[0])
                    invalid.append(control)
        values = self._values("load")
        dtype = self.query_one("#set-dtype", Select).value
        quantize = self.query_one("#set-quantize", Select).value
        if invalid or values is None or not isinstance(dtype, str) or not isinstance(quantize, str):
            if invalid:
                invalid[0].focus()
            return
        try:
            load = LoadSettings(
                dtype=dtype,
                trust_remote_code=self.query_one("#set-trust", Switch).value,
                quantize=quantize,
                compile=self.query_one("#set-compile", Switch).value,
                **values,
            )
        except SettingsError as exc:  # across fields: max memory with a device other than auto
            field = TEXT_FIELDS["set-max-memory"]
            self._show_error("set-max-memory", user_message(str(exc), field))
            self.query_one("#set-max-memory", Input).focus()
            return
        self.post_message(self.LoadRequested(load))

    def _show_value(self, control: Input, value: Any) -> None:
        """Put ``value`` in ``control`` unless its text already means that (keeps the cursor)."""
        field = TEXT_FIELDS[control.id or ""]
        try:
            if field.parse(control.value) == (tuple(value) if isinstance(value, list) else value):
                return
        except SettingsError:
            pass
        control.value = as_text(value)

    def _show_error(self, widget_id: str, message: str) -> None:
        label = self.query_one(f"#{widget_id}-error", Static)
        # The message quotes what was typed: plain Text, control characters made visible.
        label.update(Text(safe_line(message)))
        label.set_class(bool(message), "-shown")
