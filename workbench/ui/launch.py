"""Plain ``workbench``: start the full-screen app. Textual is imported here, torch only later, in a worker.

The CLI's dispatcher imports this module by name (commands/common.py ``COMMANDS``), so
nothing under ``workbench/commands`` imports ``workbench.ui``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from typing import NoReturn

from workbench.config import load_settings, user_config


def _terminal_problem() -> str | None:
    """Why the app cannot run on this process's stdin/stderr, or None."""
    for name, stream in (("standard input", sys.__stdin__), ("standard error", sys.__stderr__)):
        try:
            if stream is None:
                return f"{name} is closed"
            os.fstat(stream.fileno())
        except (OSError, ValueError):
            return f"{name} is closed"
    return None


def run(args: argparse.Namespace) -> int:
    from workbench.ui.terminal import EXIT_HANGUP, WorkbenchDriver, shutdown_reason

    problem = _terminal_problem()
    if problem is not None:
        print(f"workbench: {problem}; the full-screen app needs a terminal", file=sys.stderr)
        return EXIT_HANGUP

    from workbench.ui.app import WorkbenchApp

    config = user_config()
    server_url = getattr(args, "server", None)
    app = WorkbenchApp(
        config=config,
        load=load_settings(args, config),
        resume=getattr(args, "resume", None),
        server=(server_url, getattr(args, "server_model", None)) if server_url else None,
    )
    app.driver_class = WorkbenchDriver
    app.run()
    ending = shutdown_reason(app)  # set when a signal or the terminal's loss ended the app
    code = int(app.return_code or 0) or (ending[1] if ending else 0)
    _leave(code, silence=ending is not None and ending[1] == EXIT_HANGUP)  # ends the process


def _leave(code: int, silence: bool) -> NoReturn:
    """End the process now that the app has saved its work and restored the terminal.

    Python's own finalisation, with torch loaded, takes seconds (tensors, CUDA and native
    libraries torn down one by one); a hangup or SIGTERM must end the process within 2 s, so
    run the atexit handlers, flush, and exit. ``silence``: the terminal is gone, so a final
    flush to it would fail with EIO.
    """
    atexit._run_exitfuncs()
    if silence:
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
        except OSError:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
