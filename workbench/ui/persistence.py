"""Keeps a Conversation and the session store in step. No Textual: testable on its own.

The store is optional: if the database cannot be opened (damaged, from a newer version)
the app still works, without saving, and says so once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from workbench.conversation import Conversation, Turn
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.engine.steps import TokenStep

SAVE_INTERVAL = 1.0  # seconds between saves of a streaming reply: a kill loses at most this much


class SessionSync:
    def __init__(self, store: Any | None) -> None:  # a workbench.sessions.store.SessionStore
        self.store = store
        self.session_id: int | None = None
        self.error: str | None = None
        self._saved_steps: dict[int, int] = {}  # reply id -> how many steps are stored
        self._last_save: dict[int, float] = {}

    def _guard(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a store call; a failure is remembered and reported, never raised into the UI."""
        if self.store is None:
            return None
        try:
            return action(*args, **kwargs)
        except (WorkbenchError, OSError) as exc:
            self.error = str(exc)
            return None

    def take_error(self) -> str | None:
        error, self.error = self.error, None
        return error

    # --- writing ------------------------------------------------------------------

    def ensure_session(
        self, load: LoadSettings, sampling: SamplingSettings, ui: dict[str, Any]
    ) -> int | None:
        if self.session_id is None and self.store is not None:
            self.session_id = self._guard(
                self.store.create_session, load.model, load=load, sampling=sampling, ui=ui
            )
        return self.session_id

    def new_session(self) -> None:
        self.session_id = None

    def save_user(self, turn: Turn) -> int | None:
        if self.session_id is None:
            return None
        return self._guard(
            self.store.add_message, self.session_id, turn.role, turn.content, parent_id=turn.parent
        )

    def start_reply(self, turn: Turn, sampling: SamplingSettings) -> int | None:
        if self.session_id is None:
            return None
        reply_id = self._guard(
            self.store.start_reply, self.session_id, parent_id=turn.parent, settings=sampling
        )
        if reply_id is not None:
            self._saved_steps[reply_id] = 0
            self._last_save[reply_id] = time.monotonic()
        return reply_id

    def maybe_save_progress(self, turn: Turn, force: bool = False) -> None:
        """Save a streaming reply's new tokens if a second has passed since the last save."""
        if turn.id not in self._saved_steps:
            return
        now = time.monotonic()
        if not force and now - self._last_save[turn.id] < SAVE_INTERVAL:
            return
        saved = self._saved_steps[turn.id]
        new_steps = turn.steps[saved:]
        self._guard(self.store.append_reply, turn.id, turn.content, new_steps)
        self._saved_steps[turn.id] = saved + len(new_steps)
        self._last_save[turn.id] = now

    def finish_reply(self, turn: Turn) -> None:
        if turn.id not in self._saved_steps:
            return
        saved = self._saved_steps.pop(turn.id)
        self._last_save.pop(turn.id, None)
        status = turn.status if turn.status in ("complete", "stopped", "error") else "stopped"
        stats = dict(turn.stats)
        if turn.error:
            stats["error"] = turn.error
        self._guard(self.store.finish_reply, turn.id, turn.content, status, stats, turn.steps[saved:])

    def set_leaf(self, leaf_id: int | None) -> None:
        if self.session_id is not None and leaf_id is not None and leaf_id > 0:
            self._guard(self.store.set_active_leaf, self.session_id, leaf_id)

    def update_settings(
        self,
        load: LoadSettings | None = None,
        sampling: SamplingSettings | None = None,
        ui: dict[str, Any] | None = None,
    ) -> None:
        if self.session_id is None:
            return
        self._guard(
            self.store.update_session_settings,
            self.session_id,
            model=load.model if load else None,
            load=load,
            sampling=sampling,
            ui=ui,
        )

    # --- reading ------------------------------------------------------------------

    def open_session(self, ref: str | int) -> tuple[Any, Conversation]:
        """Load a session: its record (settings) and its whole tree as a Conversation.

        Raises WorkbenchError (unknown id, damaged data) for the caller to show.
        """
        if self.store is None:
            raise WorkbenchError("sessions are not available: the session database could not be opened")
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
        self.session_id = session_id
        return record, conversation

    def load_steps(self, turn: Turn) -> Sequence[TokenStep]:
        """Token records of a stored reply, read when first needed."""
        if turn.is_reply and not turn.steps and turn.id > 0 and self.store is not None:
            steps = self._guard(self.store.token_steps, turn.id)
            if steps:
                turn.steps = list(steps)
        return turn.steps
