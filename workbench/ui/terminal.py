"""The app's terminal: a Textual driver that survives what a real one does, and the way out when it goes.

A terminal on an SSH link hangs up, sends bytes that are not UTF-8, and pastes text full of
escape sequences. Textual's own Linux driver spins at 100% CPU on end of input, dies on an
invalid byte, and replays an escape sequence inside a bracketed paste as keystrokes. This
module's :class:`WorkbenchDriver` reads the terminal instead:

- bytes are decoded with ``errors="replace"``: an invalid byte becomes U+FFFD, never an error;
- a bracketed paste is cut out of the stream *before* the key parser sees it and delivered as
  one :class:`textual.events.Paste`, its control characters made inert (:func:`clean_paste`);
- end of input or a read error means the terminal is gone: the app is asked to end (exit 129).

SIGHUP, SIGTERM and SIGINT end the app the same way (exit 128 + signal number). Every ending
goes through :func:`request_shutdown` on the UI thread, which calls the app's
``end_session(reason, exit_code)`` (or ``exit``) and starts a watchdog: should the orderly
ending take longer than :data:`SHUTDOWN_GRACE_S`, the terminal is restored and the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import selectors
import signal
import sys
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Awaitable
from typing import IO, TYPE_CHECKING, Any, cast

from textual import events
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from workbench.safetext import safe_text

if TYPE_CHECKING:
    from textual.app import App

EXIT_HANGUP = 128 + signal.SIGHUP  # 129: the terminal hung up or went away (EOF, read error)
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

SHUTDOWN_GRACE_S = 1.5
"""How long the orderly ending may take before the watchdog ends the process itself."""

PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
PASTE_IDLE_S = 2.0
"""A paste whose end marker never comes is delivered after this long without input."""

_SIGNALS = {
    signal.SIGHUP: ("the terminal hung up (SIGHUP)", EXIT_HANGUP),
    signal.SIGTERM: ("terminated (SIGTERM)", EXIT_TERMINATED),
    signal.SIGINT: ("interrupted (SIGINT)", EXIT_INTERRUPTED),
}

# What Textual's stop_application_mode writes, for the watchdog's last-resort restore.
_RESTORE_TERMINAL = (
    "\x1b[?2004l"  # bracketed paste off
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1016l"  # mouse tracking off
    "\x1b[?2048l"  # in-band resize off
    "\x1b[?1004l"  # focus events off
    "\x1b[<u"  # kitty keyboard protocol off
    "\x1b[?7h"  # line wrap on
    "\x1b[?1049l"  # leave the alternate screen
    "\x1b[?25h"  # cursor shown
)


def clean_paste(text: str) -> str:
    """Pasted text as data: line ends as ``\\n``, other control characters (ESC, CR…) made visible."""
    return safe_text(text.replace("\r\n", "\n").replace("\r", "\n"))


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``marker``."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


class PasteSplitter:
    """Splits decoded terminal input into key text and whole bracketed pastes.

    :meth:`feed` returns ``("keys", text)`` and ``("paste", text)`` pieces in order. The start
    of a marker split across reads is held back until the next read, or until :meth:`idle` says
    nothing more came (then it goes on as keys, so a lone Escape press is not lost).
    """

    def __init__(self) -> None:
        self.in_paste = False
        self.pending = ""
        self._paste: list[str] = []
        self._last_input = time.monotonic()

    def feed(self, data: str) -> list[tuple[str, str]]:
        self._last_input = time.monotonic()
        text, self.pending = self.pending + data, ""
        pieces: list[tuple[str, str]] = []
        while text:
            marker = PASTE_END if self.in_paste else PASTE_START
            index = text.find(marker)
            if index < 0:
                keep = _partial_suffix(text, marker)
                body, self.pending = text[: len(text) - keep], text[len(text) - keep :]
                if self.in_paste:
                    self._paste.append(body)
                elif body:
                    pieces.append(("keys", body))
                break
            if self.in_paste:
                self._paste.append(text[:index])
                pieces.append(("paste", "".join(self._paste)))
                self._paste.clear()
            elif index:
                pieces.append(("keys", text[:index]))
            self.in_paste = not self.in_paste
            text = text[index + len(marker) :]
        return pieces

    def idle(self) -> list[tuple[str, str]]:
        """Called when a read found nothing: release what was held back."""
        if self.in_paste:
            if time.monotonic() - self._last_input < PASTE_IDLE_S:
                return []
            # The end marker never came: deliver the paste rather than eat every later key.
            self._paste.append(self.pending)
            self.pending, self.in_paste = "", False
            text = "".join(self._paste)
            self._paste.clear()
            return [("paste", text)]
        if self.pending:
            text, self.pending = self.pending, ""
            return [("keys", text)]
        return []


class _TerminalFile:
    """The terminal output for Textual's writer thread: a write to a terminal that is gone is
    dropped instead of killing the thread (after which Textual's bounded queue would block the
    UI thread for good)."""

    def __init__(self, file: IO[str], on_lost: Any) -> None:
        self._file = file
        self._on_lost = on_lost
        self.lost = False

    def write(self, text: str) -> None:
        if not self.lost:
            try:
                self._file.write(text)
            except (OSError, ValueError) as error:
                self._lose(error)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._file.flush()
            except (OSError, ValueError) as error:
                self._lose(error)

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return True

    def _lose(self, error: Exception) -> None:
        self.lost = True
        self._on_lost(f"writing to the terminal failed: {error}")


class WorkbenchDriver(LinuxDriver):
    """Textual's Linux driver with input that cannot be crashed, wedged or injected into."""

    def __init__(self, app: App[Any], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        # LinuxDriver's output is sys.__stderr__, a file whenever a terminal app runs.
        self._terminal_file = _TerminalFile(cast("IO[str]", self._file), self._terminal_lost)
        # Textual's writer thread uses only write, flush and fileno, which _TerminalFile has.
        self._file = self._terminal_file  # type: ignore[assignment]
        self._app_loop: asyncio.AbstractEventLoop | None = None  # the loop application mode runs on
        self.in_application_mode = False
        self.lost_reason: str | None = None

    def start_application_mode(self) -> None:
        self._app_loop = asyncio.get_running_loop()
        install_shutdown_handlers(self._app)
        self.in_application_mode = True
        super().start_application_mode()

    def stop_application_mode(self) -> None:
        super().stop_application_mode()
        self.in_application_mode = False

    def _sigcont_application(self, *args: Any) -> None:
        # A hung-up terminal sends SIGHUP *and* SIGCONT: only a resume after our own Ctrl+Z
        # (SIGTSTP) restarts application mode, never a second set of input and output threads.
        if self._must_signal_resume and self.lost_reason is None:
            super()._sigcont_application(*args)

    def _terminal_lost(self, reason: str) -> None:
        """From any thread: the terminal is gone, so end the app (exit 129)."""
        if self.lost_reason is not None:
            return
        self.lost_reason = reason
        loop = self._app_loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the app is over already
            loop.call_soon_threadsafe(request_shutdown, self._app, reason, EXIT_HANGUP)

    def run_input_thread(self) -> None:
        """Read the terminal until the app stops input, or the terminal is gone."""
        fileno = self.fileno
        selector = selectors.SelectSelector()
        selector.register(fileno, selectors.EVENT_READ)
        decode = getincrementaldecoder("utf-8")(errors="replace").decode
        parser = XTermParser(self._debug)
        splitter = PasteSplitter()
        try:
            while not self.exit_event.is_set():
                ready = selector.select(0.02 if splitter.pending else 0.1)
                if not ready:
                    pieces = splitter.idle()
                else:
                    try:
                        data = os.read(fileno, 4096)
                    except OSError as error:  # EIO: the terminal hung up
                        self._terminal_lost(f"reading the terminal failed: {error.strerror}")
                        break
                    if not data:  # end of input: closed stdin, or a hung-up terminal
                        self._terminal_lost("the terminal closed its input")
                        break
                    pieces = splitter.feed(decode(data))
                for kind, text in pieces:
                    if kind == "paste":
                        self.process_message(events.Paste(clean_paste(text)))
                    else:
                        parser = self._feed_keys(parser, text)
                for event in parser.tick():
                    self.process_message(event)
            # Stay until the app stops input (disable_input joins this thread).
            self.exit_event.wait()
        finally:
            selector.close()

    def _feed_keys(self, parser: XTermParser, text: str) -> XTermParser:
        try:
            for event in parser.feed(text):
                self.process_message(event)
        except Exception:  # a parser bug must not end input handling: start a fresh parser
            return XTermParser(self._debug)
        return parser


# --- ending the app -------------------------------------------------------------------


class _Shutdown:
    def __init__(self) -> None:
        self.reason: str | None = None
        self.exit_code: int | None = None
        self.handlers_on: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Future[None] | None = None
        self.settled = False
        self.watchdog: threading.Timer | None = None


def _shutdown_state(app: App[Any]) -> _Shutdown:
    state = getattr(app, "_workbench_shutdown", None)
    if state is None:
        state = _Shutdown()
        app._workbench_shutdown = state  # type: ignore[attr-defined]
    return state


def cancel_watchdog(app: App[Any]) -> None:
    """The app has ended and its process goes on (a test, an embedding program): the watchdog
    must not end that process later. The `workbench` command leaves it armed: its process
    ends right after the app, and the watchdog still guards that ending."""
    watchdog = _shutdown_state(app).watchdog
    if watchdog is not None:
        watchdog.cancel()


def shutdown_reason(app: App[Any]) -> tuple[str, int] | None:
    """Why the app was asked to end by a signal or a lost terminal, and its exit code; else None."""
    state = _shutdown_state(app)
    if state.reason is None or state.exit_code is None:
        return None
    return state.reason, state.exit_code


def request_shutdown(app: App[Any], reason: str, exit_code: int) -> None:
    """End the app in order; call on the UI thread. Only the first request counts.

    Calls ``app.end_session(reason, exit_code)`` where the app has it (stop and save the reply,
    release the model, exit), else ``app.exit(return_code=exit_code)``, and starts the watchdog.
    """
    state = _shutdown_state(app)
    if state.reason is not None:
        return
    # End of input can come while the app still mounts its widgets: wait for its first frame.
    if not app.is_running:
        asyncio.get_running_loop().call_later(0.05, request_shutdown, app, reason, exit_code)
        return
    if not state.settled:
        state.settled = True
        app.call_after_refresh(request_shutdown, app, reason, exit_code)
        return
    state.reason, state.exit_code = reason, exit_code
    watchdog = threading.Timer(SHUTDOWN_GRACE_S, _force_exit, args=(app, exit_code))
    watchdog.daemon = True
    watchdog.name = "workbench-shutdown-watchdog"
    state.watchdog = watchdog
    watchdog.start()
    end_session = getattr(app, "end_session", None)
    if not callable(end_session):
        app.exit(return_code=exit_code)
        return
    try:
        result = end_session(reason, exit_code)
    except Exception:
        app.exit(return_code=exit_code)
        return
    if inspect.isawaitable(result):  # an async end_session runs as a task on the UI loop
        state.task = asyncio.ensure_future(_end_or_exit(app, result, exit_code))


async def _end_or_exit(app: App[Any], ending: Awaitable[Any], exit_code: int) -> None:
    try:
        await ending
    except Exception:
        app.exit(return_code=exit_code)


def install_shutdown_handlers(app: App[Any]) -> None:
    """SIGHUP, SIGTERM and SIGINT end ``app`` through :func:`request_shutdown`.

    Call on the UI thread once the event loop runs (the terminal driver does so when it starts;
    calling again is harmless). The handlers belong to the running loop and go with it.
    """
    loop = asyncio.get_running_loop()
    state = _shutdown_state(app)
    if state.handlers_on is loop or threading.current_thread() is not threading.main_thread():
        return
    for signum, (reason, code) in _SIGNALS.items():
        loop.add_signal_handler(signum, request_shutdown, app, reason, code)
    state.handlers_on = loop


def _force_exit(app: App[Any], exit_code: int) -> None:
    """The watchdog: the orderly ending took too long; restore the terminal and end the process."""
    driver = getattr(app, "_driver", None)
    output_lost = isinstance(driver, WorkbenchDriver) and driver._terminal_file.lost
    if isinstance(driver, WorkbenchDriver) and driver.in_application_mode and not output_lost:
        # A terminal whose output is blocked must not stop us: write from a thread, briefly.
        writer = threading.Thread(target=_restore_terminal, args=(driver,), daemon=True)
        writer.start()
        writer.join(0.3)
    try:
        sys.stderr.write(f"workbench: {(shutdown_reason(app) or ('ending', 0))[0]}; forced exit\n")
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(exit_code)


def _restore_terminal(driver: WorkbenchDriver) -> None:
    import termios

    try:
        if driver.attrs_before is not None:
            termios.tcsetattr(driver.fileno, termios.TCSANOW, driver.attrs_before)
    except (termios.error, OSError):
        pass
    with contextlib.suppress(OSError, AttributeError, ValueError):
        os.write(sys.__stderr__.fileno(), _RESTORE_TERMINAL.encode())  # type: ignore[union-attr]
