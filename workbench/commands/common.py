"""What every command shares: settings from flags and config, loading with progress, errors."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import os
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

from workbench.config import Config, user_config
from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings, unescape_stop

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

COMMANDS = {
    None: "workbench.ui.launch",
    "probe": "workbench.commands.probe",
    "tokenize": "workbench.commands.tokenize",
    "generate": "workbench.commands.generate",
    "vocab": "workbench.commands.vocab",
    "classify": "workbench.commands.classify",
    "fill": "workbench.commands.fill",
    "lens": "workbench.commands.lens",
    "score": "workbench.commands.score",
    "sessions": "workbench.commands.sessions",
    "diff": "workbench.commands.diff",
}


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
STDOUT_CLOSED = (
    "standard output is closed (as with >&-), so there is nowhere to write the result; "
    "redirect it instead, e.g. > out.txt or > /dev/null"
)
# Arguments that name files: on Linux a path may be any bytes, so these are not checked as text.
PATH_ARGUMENTS = frozenset({"model", "out", "file", "against"})
# Positional arguments, named as in --help (the rest are shown as --options).
POSITIONALS = frozenset({"text", "prompt", "title", "session"})
# Commands whose whole job is to write to stdout: refused at once, before a model loads.
WRITES_STDOUT = frozenset({"probe", "tokenize", "generate", "classify", "fill", "diff", "lens", "score"})


class OutputClosedError(WorkbenchError):
    """Something was to be written to standard output, and there is none."""


class _ClosedStdout(io.TextIOBase):
    """Stands in for ``sys.stdout`` when file descriptor 1 was closed at start (Python then sets
    it to None, and print() and Rich would drop every line without a word): the first write
    raises :class:`OutputClosedError`, while commands that write only files still work."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OutputClosedError(STDOUT_CLOSED)

    def isatty(self) -> bool:
        return False


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # Rich's own handler raises SystemExit(1) with no word said; let run_command report it.
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def output_console(stderr: bool = False, **options: Any) -> Console:
    """A Rich console for a command's output (``stderr=True`` for notes and progress).

    Use this rather than ``Console()``: a reader that went away (``| head``) is reported
    by :func:`run_command` as one line and exit 141, not swallowed by Rich as exit 1.
    """
    options.setdefault("highlight", False)
    return _Console(stderr=stderr, **options)


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the chosen command; a user-fixable problem becomes one line on stderr and a non-zero exit.

    Exit codes: 2 for a bad argument or setting, 1 for any other problem the message explains,
    130 when interrupted, 141 when the reader of stdout went away (broken pipe).
    """
    try:
        check_text_arguments(args)
        if sys.stdout is None:
            sys.stdout = _ClosedStdout()
            if args.command in WRITES_STDOUT:
                raise OutputClosedError(STDOUT_CLOSED)
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
        _drop_unwritable_stdout()
        _error_line("the output was closed before all of it was written (broken pipe); the rest was dropped")
        return BROKEN_PIPE_EXIT


def check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse text arguments that are not UTF-8 (the shell passed raw bytes such as ``$'\\xff'``).

    Python decodes them with surrogate escapes, which no tokenizer or database can take.
    """
    for name, value in sorted(vars(args).items()):
        if not isinstance(value, str) or name in PATH_ARGUMENTS:
            continue
        raw = os.fsencode(value)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            shown = name.upper() if name in POSITIONALS else "--" + name.replace("_", "-")
            raise SettingsError(
                f"{shown} is not valid UTF-8 text (byte 0x{raw[exc.start]:02X} at byte {exc.start}); "
                "pass it as UTF-8 (check the terminal's and the locale's encoding)"
            ) from None


def _drop_unwritable_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's flush at exit does not fail
    again ("Exception ignored ... BrokenPipeError"); output still buffered for a working
    stdout (the pipe that broke was stderr) is written first."""
    if sys.stdout is None or isinstance(sys.stdout, _ClosedStdout):
        return
    try:
        sys.stdout.flush()
        return
    except (BrokenPipeError, ValueError):
        pass
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _error_line(message: str) -> None:
    """One unwrapped line on stderr (Rich would wrap it at 80 columns when piped).

    Nothing is written when there is no stderr (closed, or a pipe whose reader left).
    """
    from workbench.safetext import safe_line

    if sys.stderr is None:
        return
    with contextlib.suppress(OSError, ValueError):
        print(f"workbench: error: {safe_line(message)}", file=sys.stderr, flush=True)


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
    stops = getattr(args, "stop", None)  # (only generate has --stop)
    if stops is not None:
        changes["stop"] = [unescape_stop(s) for s in stops]
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

    err = output_console(stderr=True)
    if quiet or sys.stderr is None or not sys.stderr.isatty():
        loaded = load_model(settings)
    else:
        with err.status("Loading model…") as status:

            def report(progress: Any) -> None:
                fraction = progress.fraction
                suffix = f" {fraction:.0%}" if fraction is not None else ""
                status.update(f"{progress.stage}{suffix}")

            loaded = load_model(settings, progress=report)
    if not quiet and sys.stderr is not None:
        _scale_up_notes(loaded)
    return loaded


def _scale_up_notes(loaded: LoadedModel) -> None:
    """--compile's first compile time, and what it could not do, as notes on stderr."""
    from workbench.safetext import safe_line

    static = loaded.static
    with contextlib.suppress(OSError, ValueError):
        if static is not None and static.first_compile_seconds is not None:
            print(
                f"note: compiled the decoding step in {static.first_compile_seconds:.1f} s "
                "(not counted in tokens/s)",
                file=sys.stderr,
            )
        if loaded.compile_note:
            print(f"note: {safe_line(loaded.compile_note)}", file=sys.stderr)
