"""Keeps a Conversation and the session store in step, writing on a thread of its own.

No Textual: testable on its own. Thread contract:
- The UI thread calls every public method. Write methods only *queue* a job (with a snapshot
  of what to write) and return at once: a busy or slow database never freezes the screen.
- One writer thread runs the jobs in order against the store.
- Turns keep the ids the Conversation gave them. A turn added here gets its database id on the
  writer thread; :meth:`stored_id` maps one to the other (turns read from the database keep
  their stored, positive ids). Later jobs look up ids of earlier ones on the writer thread,
  where the earlier job has already run.

The store is optional: if the database cannot be opened (damaged, from a newer version)
the app still works, without saving, and says so once. A failed write is remembered
(:meth:`take_error`) and handed to ``on_error`` from the writer thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from workbench.conversation import Conversation, Turn
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.engine.steps import TokenStep

if TYPE_CHECKING:
    from workbench.sessions.store import SessionStore

SAVE_INTERVAL = 1.0  # seconds between saves of a streaming reply: a kill loses at most this much
WAIT_FOR_WRITER = 10.0  # the most a reader of an id waits for the writer (only rare paths wait)

_STOP = object()


class SessionSync:
    def __init__(self, store: SessionStore | None, on_error: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.on_error = on_error
        self._error: str | None = None
        self._error_lock = threading.Lock()
        self._session: Future[int | None] | None = None
        self._ids: dict[int, Future[int | None]] = {}  # local turn id -> its database id
        self._saved_steps: dict[int, int] = {}  # reply turn id -> how many steps are queued
        self._last_save: dict[int, float] = {}
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        if store is not None:
            self._writer = threading.Thread(target=self._serve, name="workbench-session-writer", daemon=True)
            self._writer.start()

    # --- the writer thread ------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            action, done = job
            try:
                action()
            except (WorkbenchError, OSError) as exc:
                self._fail(str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug in one write must not stop the writer
                self._fail(f"{type(exc).__name__}: {exc}")
            finally:
                if done is not None:
                    done.set_result(None)

    def _fail(self, error: str) -> None:
        with self._error_lock:
            self._error = error
        if self.on_error is not None:
            with contextlib.suppress(Exception):  # reporting must never kill the writer
                self.on_error(error)

    def _queue(self, action: Callable[[], Any]) -> None:
        if self.store is not None and self._writer is not None:
            self._jobs.put((action, None))

    def _db_id(self, turn_id: int | None) -> int | None:
        """On the writer thread: the database id of a turn (earlier jobs have run)."""
        if turn_id is None:
            return None
        future = self._ids.get(turn_id)
        if future is None:
            return turn_id if turn_id > 0 else None
        return future.result()

    @staticmethod
    def _resolved(future: Future[int | None], action: Callable[[], int | None]) -> None:
        try:
            future.set_result(action())
        except BaseException:
            future.set_result(None)
            raise

    # --- state for the UI thread ----------------------------------------------------

    def take_error(self) -> str | None:
        with self._error_lock:
            error, self._error = self._error, None
        return error

    @property
    def session_id(self) -> int | None:
        """The current session's database id (waits for its creation if that is still queued)."""
        future = self._session
        if future is None:
            return None
        try:
            return future.result(WAIT_FOR_WRITER)
        except TimeoutError:
            return None

    def stored_id(self, turn_id: int, timeout: float = WAIT_FOR_WRITER) -> int | None:
        """The database id of a turn, waiting for the writer if need be; None if not saved."""
        future = self._ids.get(turn_id)
        if future is None:
            return turn_id if turn_id > 0 else None
        try:
            return future.result(timeout)
        except TimeoutError:
            return None

    def flush(self, timeout: float = WAIT_FOR_WRITER) -> bool:
        """Wait until every queued write has run; False if that took longer than ``timeout``."""
        if self.store is None or self._writer is None or not self._writer.is_alive():
            return True
        done: Future[None] = Future()
        self._jobs.put((lambda: None, done))
        try:
            done.result(timeout)
        except TimeoutError:
            return False
        return True

    def close(self, timeout: float = WAIT_FOR_WRITER) -> bool:
        """Run what is queued, then stop the writer thread."""
        flushed = self.flush(timeout)
        if self._writer is not None and self._writer.is_alive():
            self._jobs.put(_STOP)
            self._writer.join(timeout)
        return flushed

    # --- writing (queued) -----------------------------------------------------------

    def ensure_session(
        self,
        load: LoadSettings,
        sampling: SamplingSettings,
        ui: dict[str, Any],
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """``provenance``: what the model really is (LoadedModel.provenance()), never 'auto'."""
        if self._session is not None or self.store is None:
            return
        future: Future[int | None] = Future()
        self._session = future
        store = self.store
        self._queue(
            lambda: self._resolved(
                future,
                lambda: store.create_session(
                    load.model, load=load, sampling=sampling, ui=ui, provenance=provenance
                ),
            )
        )

    def new_session(self) -> None:
        self._session = None

    def save_user(self, turn: Turn) -> None:
        session = self._session
        if session is None or self.store is None:
            return
        future: Future[int | None] = Future()
        self._ids[turn.id] = future
        store, role, content, parent = self.store, turn.role, turn.content, turn.parent

        def action() -> int | None:
            session_id = session.result()
            if session_id is None:
                return None
            return store.add_message(session_id, role, content, parent_id=self._db_id(parent))

        self._queue(lambda: self._resolved(future, action))

    def start_reply(self, turn: Turn, sampling: SamplingSettings) -> None:
        session = self._session
        if session is None or self.store is None:
            return
        future: Future[int | None] = Future()
        self._ids[turn.id] = future
        self._saved_steps[turn.id] = 0
        self._last_save[turn.id] = time.monotonic()
        store, parent = self.store, turn.parent

        def action() -> int | None:
            session_id = session.result()
            if session_id is None:
                return None
            return store.start_reply(session_id, parent_id=self._db_id(parent), settings=sampling)

        self._queue(lambda: self._resolved(future, action))

    def maybe_save_progress(self, turn: Turn, force: bool = False) -> None:
        """Queue a streaming reply's new tokens if a second has passed since the last save."""
        if turn.id not in self._saved_steps:
            return
        now = time.monotonic()
        if not force and now - self._last_save[turn.id] < SAVE_INTERVAL:
            return
        saved = self._saved_steps[turn.id]
        new_steps = turn.steps[saved:]  # a snapshot: the UI thread goes on appending to turn.steps
        content = turn.content
        self._saved_steps[turn.id] = saved + len(new_steps)
        self._last_save[turn.id] = now
        store, turn_id = self.store, turn.id
        if store is None:
            return

        def action() -> None:
            message_id = self._db_id(turn_id)
            if message_id is not None:
                store.append_reply(message_id, content, new_steps)

        self._queue(action)

    def finish_reply(self, turn: Turn) -> None:
        if turn.id not in self._saved_steps:
            return
        saved = self._saved_steps.pop(turn.id)
        self._last_save.pop(turn.id, None)
        status = turn.status if turn.status in ("complete", "stopped", "error") else "stopped"
        stats = dict(turn.stats)
        if turn.error:
            stats["error"] = turn.error
        store, turn_id, content, rest = self.store, turn.id, turn.content, list(turn.steps[saved:])
        if store is None:
            return

        def action() -> None:
            message_id = self._db_id(turn_id)
            if message_id is not None:
                store.finish_reply(message_id, content, status, stats, rest)

        self._queue(action)

    def set_leaf(self, leaf_id: int | None) -> None:
        session = self._session
        if session is None or leaf_id is None or self.store is None:
            return
        store = self.store

        def action() -> None:
            session_id, db_leaf = session.result(), self._db_id(leaf_id)
            if session_id is not None and db_leaf is not None:
                store.set_active_leaf(session_id, db_leaf)

        self._queue(action)

    def update_settings(
        self,
        load: LoadSettings | None = None,
        sampling: SamplingSettings | None = None,
        ui: dict[str, Any] | None = None,
        model: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """``model`` names what ran (e.g. the resolved source), else ``load.model``."""
        session = self._session
        if session is None or self.store is None:
            return
        store = self.store

        def action() -> None:
            session_id = session.result()
            if session_id is not None:
                store.update_session_settings(
                    session_id,
                    model=model or (load.model if load else None),
                    load=load,
                    sampling=sampling,
                    ui=ui,
                    provenance=provenance,
                )

        self._queue(action)

    # --- reading (on the UI thread, after the queued writes) -------------------------

    def open_session(self, ref: str | int) -> tuple[Any, Conversation]:
        """Load a session: its record (settings) and its whole tree as a Conversation.

        Raises WorkbenchError (unknown id, damaged data) for the caller to show.
        """
        if self.store is None:
            raise WorkbenchError("sessions are not available: the session database could not be opened")
        self.flush()  # what this app wrote is in the database before it is read back
        session_id = self.store.resolve(ref)
        record = self.store.get_session(session_id)
        records = self.store.tree(session_id)
        active = [m.id for m in self.store.messages(session_id)]
        conversation = Conversation()
        for message in records:
            status = "stopped" if message.interrupted or message.status == "streaming" else message.status
            stats = dict(message.stats)
            conversation.add(
                message.role,
                message.content,
                parent=message.parent_id,
                turn_id=message.id,
                status=status,
                stats=stats,
                settings=message.sampling,
                error=stats.get("error") if status == "error" else None,
            )
        if active:
            conversation.select(active[-1])
        else:
            conversation.leaf = None
        for turn in conversation.path():
            self.load_steps(turn)
        done: Future[int | None] = Future()
        done.set_result(session_id)
        self._session = done
        return record, conversation

    def load_steps(self, turn: Turn) -> Sequence[TokenStep]:
        """Token records of a stored reply, read when first needed."""
        if turn.is_reply and not turn.steps and turn.id > 0 and self.store is not None:
            try:
                steps = self.store.token_steps(turn.id)
            except (WorkbenchError, OSError) as exc:
                self._fail(str(exc))
                steps = []
            if steps:
                turn.steps = list(steps)
        return turn.steps
