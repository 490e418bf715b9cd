"""What every command shares: settings from flags and config, loading with progress, errors."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

from workbench.config import Config, load_config
from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

COMMANDS = {
    None: "workbench.commands.tui",
    "probe": "workbench.commands.probe",
    "tokenize": "workbench.commands.tokenize",
    "generate": "workbench.commands.generate",
    "vocab": "workbench.commands.vocab",
    "sessions": "workbench.commands.sessions",
}


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the chosen command; a user-fixable problem becomes one line on stderr and exit 1/2."""
    try:
        module = importlib.import_module(COMMANDS[args.command])
        return int(module.run(args) or 0)
    except SettingsError as exc:
        _error_line(str(exc))
        return 2
    except WorkbenchError as exc:
        _error_line(str(exc))
        return 1
    except KeyboardInterrupt:
        _error_line("interrupted")
        return 130
    except BrokenPipeError:
        return 0


def _error_line(message: str) -> None:
    """One unwrapped line on stderr (Rich would wrap it at 80 columns when piped)."""
    from workbench.safetext import safe_line

    print(f"workbench: error: {safe_line(message)}", file=sys.stderr, flush=True)


def user_config() -> Config:
    config, problems = load_config()
    err = Console(stderr=True, highlight=False)
    for problem in problems:
        print(f"workbench: warning: {problem}", file=err.file)
    return config


def load_settings(args: argparse.Namespace, config: Config | None = None) -> LoadSettings:
    base = (config or user_config()).model
    changes: dict[str, Any] = {}
    for name in ("model", "device", "dtype", "trust_remote_code"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    return LoadSettings(**{**base.to_dict(), **changes})


def sampling_settings(args: argparse.Namespace, config: Config | None = None) -> SamplingSettings:
    base = (config or user_config()).sampling.to_dict()
    flags = {
        "temperature": args.temperature,
        "top_k": args.sample_top_k,
        "top_p": args.top_p,
        "min_p": args.min_p,
        "repetition_penalty": args.repetition_penalty,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    if args.greedy:
        changes["do_sample"] = False
    return SamplingSettings(**{**base, **changes})


def require_text(text: str, what: str = "prompt") -> str:
    if not text or not text.strip():
        raise SettingsError(f"the {what} is empty; give some text, e.g. workbench probe '1+1='")
    return text


def command_prompt(tokenizer: Any, text: str, chat: bool, system: str | None = None) -> Any:
    """The prompt of ``probe``/``generate``: TEXT as a user message through the chat template
    (after an optional system message), or as raw text."""
    from workbench.engine.prompts import chat_prompt, completion_prompt

    if not chat:
        return completion_prompt(tokenizer, text)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    return chat_prompt(tokenizer, messages)


def load_with_progress(settings: LoadSettings, quiet: bool = False) -> LoadedModel:
    """Load the model, showing the loading stage on stderr when it is a terminal."""
    from workbench.engine.loading import load_model

    err = Console(stderr=True, highlight=False)
    if quiet or not sys.stderr.isatty():
        return load_model(settings)
    with err.status("Loading model…") as status:

        def report(progress: Any) -> None:
            fraction = progress.fraction
            suffix = f" {fraction:.0%}" if fraction is not None else ""
            status.update(f"{progress.stage}{suffix}")

        return load_model(settings, progress=report)
