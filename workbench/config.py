"""User defaults in ``config.toml``, read with tomllib and validated into frozen dataclasses.

A broken or invalid file never stops the app: :func:`load_config` returns the defaults plus
the problems it found, for the caller to show.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.engine.errors import SettingsError
from workbench.engine.settings import LoadSettings, SamplingSettings, validate_top_k_shown

DEFAULT_SYSTEM_PROMPT = ""


@dataclass(frozen=True, slots=True)
class UiSettings:
    theme: str = "workbench-dark"
    top_k_shown: int = 10
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    heatmap: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "top_k_shown", validate_top_k_shown(self.top_k_shown))
        if not isinstance(self.theme, str) or not self.theme.strip():
            raise SettingsError("theme must be a theme name")
        if not isinstance(self.system_prompt, str):
            raise SettingsError("system_prompt must be text")
        if not isinstance(self.heatmap, bool):
            raise SettingsError("heatmap must be true or false")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UiSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class Config:
    model: LoadSettings = field(default_factory=LoadSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    ui: UiSettings = field(default_factory=UiSettings)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {"model": self.model.to_dict(), "sampling": self.sampling.to_dict(), "ui": asdict(self.ui)}


def load_config(path: Path | None = None) -> tuple[Config, list[str]]:
    """The user's config, section by section; a bad section falls back to its defaults."""
    path = path or paths.config_file()
    problems: list[str] = []
    if not path.exists():
        return Config(), problems
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Config(), [f"{path}: could not read it ({exc}); using defaults"]
    sections: dict[str, Any] = {}
    for name, kind in (("model", LoadSettings), ("sampling", SamplingSettings), ("ui", UiSettings)):
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            problems.append(f"{path}: [{name}] must be a table; using defaults")
            continue
        if name == "sampling" and raw.get("seed") == "":
            raw = {k: v for k, v in raw.items() if k != "seed"}
        try:
            sections[name] = kind.from_dict(raw)
        except (SettingsError, TypeError) as exc:
            problems.append(f"{path} [{name}]: {exc}; using defaults for this section")
    return Config(**sections), problems


def save_config(config: Config, path: Path | None = None) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a config."""
    path = path or paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(_to_toml(config.to_dict()), encoding="utf-8")
    os.replace(tmp, path)


def _to_toml(data: dict[str, dict[str, Any]]) -> str:
    lines = ["# workbench settings; edited by the app, safe to edit by hand", ""]
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                continue  # TOML has no null: an absent key means "default"
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):  # the stop strings
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " or ch == "\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


# Shared by the commands and the app's launcher (ui/launch.py), so they live here, below both.
def user_config() -> Config:
    config, problems = load_config()
    if sys.stderr is not None:
        for problem in problems:
            print(f"workbench: warning: {problem}", file=sys.stderr)
    return config


def load_settings(args: argparse.Namespace, config: Config | None = None) -> LoadSettings:
    base = (config or user_config()).model
    changes: dict[str, Any] = {}
    for name in ("model", "device", "dtype", "trust_remote_code", "max_memory", "quantize", "compile"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if changes.get("max_memory") and "device" not in changes:
        changes["device"] = "auto"  # --max-memory means device_map="auto", whatever device the config keeps
    return LoadSettings(**{**base.to_dict(), **changes})
