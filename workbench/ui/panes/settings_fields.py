"""The settings tab's text fields: how each is parsed, validated and shown.

Every field is checked with the same dataclasses the engine and the config file use, so the
inline error is exactly the ``SettingsError`` message (made friendlier by ``user_message``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from textual.validation import ValidationResult, Validator

from workbench.engine.errors import SettingsError
from workbench.engine.settings import (
    LoadSettings,
    SamplingSettings,
    format_stop_field,
    parse_stop_field,
    validate_top_k_shown,
)

Group = Literal["load", "sampling", "ui"]
QUANTIZE_SHOWN = {"none": "none", "8bit": "8-bit bnb", "4bit": "4-bit bnb"}


def _sampling_field(key: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        # Only one field varies, so the error names this field; there are no cross-field rules.
        return getattr(SamplingSettings().updated(**{key: raw}), key)

    return parse


def _seed(raw: str) -> int | None:
    return None if not raw.strip() else _sampling_field("seed")(raw)


def _load_field(key: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        fields: dict[str, Any] = {key: raw}  # validated by LoadSettings
        return getattr(LoadSettings(**fields), key)

    return parse


@dataclass(frozen=True)
class _Field:
    """One typed-in setting: where it goes, what it is called, and how its text is checked."""

    key: str  # the dataclass field name
    group: Group
    label: str
    help: str
    parse: Callable[[str], Any]  # text -> value; raises SettingsError saying how to fix it


# Widget id -> field. Order is the on-screen (and Tab) order within each group.
TEXT_FIELDS: dict[str, _Field] = {
    "set-model": _Field(
        "model", "load", "Model source", "'default', a hub id, a folder or a .gguf file", _load_field("model")
    ),
    "set-device": _Field("device", "load", "Device", "auto, cpu, cuda, cuda:N or mps", _load_field("device")),
    "set-max-memory": _Field(
        "max_memory",
        "load",
        "Max memory",
        "device auto: cap per device, e.g. 0=20GiB,1=20GiB,cpu=64GiB",
        _load_field("max_memory"),
    ),
    "set-temperature": _Field(
        "temperature", "sampling", "Temperature", "0 = greedy; 0.7 is typical", _sampling_field("temperature")
    ),
    "set-top-k": _Field("top_k", "sampling", "Top-k", "0 = off; e.g. 40", _sampling_field("top_k")),
    "set-top-p": _Field("top_p", "sampling", "Top-p", "1 = off; e.g. 0.9", _sampling_field("top_p")),
    "set-min-p": _Field("min_p", "sampling", "Min-p", "0 = off; e.g. 0.05", _sampling_field("min_p")),
    "set-repetition-penalty": _Field(
        "repetition_penalty",
        "sampling",
        "Repetition penalty",
        "1 = off; 1.1 discourages repeats",
        _sampling_field("repetition_penalty"),
    ),
    "set-max-new-tokens": _Field(
        "max_new_tokens",
        "sampling",
        "Max new tokens",
        "longest reply, in tokens",
        _sampling_field("max_new_tokens"),
    ),
    "set-seed": _Field("seed", "sampling", "Seed", "empty = random each time", _seed),
    "set-stop": _Field(
        "stop",
        "sampling",
        "Stop sequences",
        "cut from the reply; | separates; \\n newline, \\s space",
        parse_stop_field,
    ),
    "set-top-k-shown": _Field(
        "top_k_shown", "ui", "Candidates shown", "rows in the chart, 1-50", validate_top_k_shown
    ),
}


def as_text(value: Any) -> str:
    """A value as it is typed: repr() round-trips floats exactly (0.7 -> "0.7")."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # the stop strings, as typed: "\n\n | User:"
        return format_stop_field(value)
    return repr(value) if isinstance(value, float) else str(value)


def user_message(message: str, field: _Field) -> str:
    """A SettingsError message in this pane's words: the labels users see ("Top-p must be..."),
    not the settings' internal names (``top_p``, used on the command line and in config.toml)."""
    if message.startswith(field.key + " "):
        message = field.label + message[len(field.key) :]
    for other in TEXT_FIELDS.values():
        if "_" in other.key:  # an internal-looking name elsewhere in the text
            message = re.sub(rf"(?<![\w-]){re.escape(other.key)}(?![\w-])", other.label, message)
    return message[:1].upper() + message[1:]


class SettingValidator(Validator):
    """Textual validator around a field's parser: the failure text is the SettingsError message,
    with the pane's labels for the settings it names."""

    def __init__(self, field: _Field) -> None:
        super().__init__()
        self._field = field

    def validate(self, value: str) -> ValidationResult:
        try:
            self._field.parse(value)
        except SettingsError as exc:
            return self.failure(user_message(str(exc), self._field), value)
        return self.success()
