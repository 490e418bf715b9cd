"""SessionStore: every conversation saved as it happens.

The store's jobs are split by file: this one opens the database, runs transactions, and
reads and writes sessions and messages; ``replies.py`` writes a reply as it streams;
``rows.py`` turns rows into records; ``search.py`` builds the full-text search;
``writers.py`` tells whether a reply's writer process is gone.

Saving contract (what the app calls, each one short transaction):

- ``add_message`` saves a user (or system) message when it is sent and makes it the active leaf;
- ``start_reply`` creates an assistant message in status "streaming";
- ``append_reply`` about once a second while it streams: the text so far plus a chunk of new
  token records (earlier chunks are never rewritten), so a kill loses at most that second;
- ``finish_reply`` when it ends (complete, stopped or error), with its stats and last tokens.

A reply left "streaming" by a process that was killed reads back as "stopped" (with
``interrupted`` set) with whatever had been saved. Opening a store also marks it so in the
file (which makes its text searchable) once its writer, recorded as host and pid, is gone;
a reply another live process is writing is left alone.

One store may be shared by threads (the UI and a generation worker): calls are serialised.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from workbench import paths
from workbench.engine.errors import WorkbenchError
from workbench.engine.steps import TokenStep
from workbench.sessions import db
from workbench.sessions.records import MessageRecord, SessionRecord, SessionSummary, make_title
from workbench.sessions.replies import LiveReply, ReplyWriter
from workbench.sessions.rows import (
    ACTIVE_LEAF,
    BRANCH_SQL,
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    check_message,
    dump_json,
    insert_chunk,
    load_json,
    message_from_row,
    session_from_row,
    settings_dict,
)
from workbench.sessions.search import (
    SEARCH_WHERE,
    SNIPPET_CLOSE,
    SNIPPET_OPEN,
    SNIPPET_WORDS,
    fts_query,
    hits_cte,
    like_pattern,
    split_snippet,
)
from workbench.sessions.tokencodec import CodecError, decode_chunks
from workbench.sessions.writers import writer_gone, writer_id

T = TypeVar("T")


class NoDatabaseError(WorkbenchError):
    """Opened with ``create=False`` and nothing has been saved yet."""


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to write as part of a whole session (import): ``key``/``parent_key`` are the
    caller's ids, mapped to new database ids."""

    key: Any
    parent_key: Any
    role: str
    content: str
    status: str = "complete"
    created: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] | None = None
    steps: Sequence[TokenStep] = ()


class SessionStore(ReplyWriter):
    """The session database. ``path`` defaults to :func:`workbench.paths.database_file`."""

    def __init__(self, path: Path | str | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else paths.database_file()
        if not create and not self.path.exists():
            raise NoDatabaseError(f"no sessions saved yet (no database at {self.path})")
        self._conn, self.backup = db.connect(self.path)
        self._lock = threading.RLock()
        self._live: dict[int, LiveReply] = {}  # replies this store is writing: not "interrupted"
        try:
            self._recover()
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: sqlite3.DatabaseError) -> WorkbenchError:
        text = str(exc)
        if "malformed" in text or "not a database" in text:
            return db.damaged_error(self.path, exc)
        named = db.environment_error(self.path, exc)  # a disk that filled up or went read-only
        if named is not None:
            return named
        return WorkbenchError(f"the session database {self.path} failed: {text}")

    def _transaction(self, begin: str, action: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn

        def attempt() -> T:
            conn.execute(begin)
            try:
                result = action(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        with self._lock:
            try:
                return db.retrying(attempt, self.path)
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    def _write(self, action: Callable[[sqlite3.Connection], T]) -> T:
        # IMMEDIATE takes the write lock up front: a deferred transaction that later needs it
        # can get SQLITE_BUSY at once, without the busy handler.
        return self._transaction("BEGIN IMMEDIATE", action)

    def _read(self, action: Callable[[sqlite3.Connection], T]) -> T:
        return self._transaction("BEGIN", action)  # one consistent snapshot for all its queries

    def _recover(self) -> None:
        """Mark the replies whose writer process is gone as stopped and interrupted."""
        rows = self._read(
            lambda c: c.execute("SELECT id, writer FROM messages WHERE status = 'streaming'").fetchall()
        )
        dead = [row[0] for row in rows if writer_gone(row[1])]
        if not dead:
            return
        marks = ", ".join("?" * len(dead))
        self._write(
            lambda c: c.execute(
                "UPDATE messages SET status = 'stopped', stats = CASE WHEN json_valid(stats)"
                " THEN json_set(stats, '$.interrupted', json('true')) ELSE '{\"interrupted\":true}' END"
                f" WHERE status = 'streaming' AND id IN ({marks})",
                dead,
            )
        )

    def _record(self, row: Sequence[Any]) -> MessageRecord:
        return message_from_row(row, self._live)

    @staticmethod
    def _require_session(conn: sqlite3.Connection, session_id: int) -> tuple[str, int | None]:
        row = conn.execute(
            "SELECT title, active_leaf_id FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise WorkbenchError(f"there is no session {session_id}")
        return row[0], row[1]

    @staticmethod
    def _parent(conn: sqlite3.Connection, session_id: int, parent_id: Any, active: int | None) -> int | None:
        if parent_id is ACTIVE_LEAF:
            return active
        if parent_id is None:
            return None
        row = conn.execute("SELECT session_id FROM messages WHERE id = ?", (parent_id,)).fetchone()
        if row is None or row[0] != session_id:
            raise WorkbenchError(f"message {parent_id} is not in session {session_id}")
        return int(parent_id)

    # -- sessions ---------------------------------------------------------------------------

    def create_session(
        self,
        model: str = "default",
        *,
        title: str = "",
        load: Any = None,
        sampling: Any = None,
        ui: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> int:
        """A new, empty session; returns its id. Its title comes from the first user message.
        ``provenance``: what the model really is (``LoadedModel.provenance()``), when known."""
        now = time.time()
        values = (
            " ".join(title.split()),
            model,
            now,
            now,
            dump_json(settings_dict(load)),
            dump_json(settings_dict(sampling)),
            dump_json(ui),
            dump_json(provenance),
        )

        def action(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO sessions (title, model, created, updated, load_settings, sampling_settings, ui,"
                " provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return int(cursor.lastrowid or 0)

        return self._write(action)

    def get_session(self, session_id: int) -> SessionRecord:
        row = self._read(
            lambda c: c.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        )
        if row is None:
            raise WorkbenchError(f"there is no session {session_id}")
        return session_from_row(row)

    def latest_session_id(self) -> int | None:
        """The most recently updated session, or None when there is none."""
        row = self._read(
            lambda c: c.execute("SELECT id FROM sessions ORDER BY updated DESC, id DESC LIMIT 1").fetchone()
        )
        return None if row is None else int(row[0])

    def resolve(self, ref: str | int) -> int:
        """``last`` or a session id (as typed on the command line) -> an existing session id."""
        text = str(ref).strip()
        if text.lower() == "last":
            latest = self.latest_session_id()
            if latest is None:
                raise WorkbenchError("there are no saved sessions yet")
            return latest
        if not text.isdigit():
            raise WorkbenchError(
                f"a session is 'last' or a number (see 'workbench sessions list'), not {text!r}"
            )
        self.get_session(int(text))
        return int(text)

    def list_sessions(
        self, search: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[SessionSummary]:
        """Sessions newest first. ``search`` keeps those with a message containing all its
        words (full-text, last word as a prefix) or a title containing it, with a snippet."""
        limit = -1 if limit is None else int(limit)
        if not search or not search.strip():
            sql = (
                "SELECT s.id, s.title, s.model, s.created, s.updated,"
                " (SELECT count(*) FROM messages m WHERE m.session_id = s.id), NULL"
                " FROM sessions s ORDER BY s.updated DESC, s.id DESC LIMIT ? OFFSET ?"
            )
            rows = self._read(lambda c: c.execute(sql, (limit, offset)).fetchall())
            return [SessionSummary(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
        query, like = fts_query(search), like_pattern(search)

        def action(conn: sqlite3.Connection) -> list[SessionSummary]:
            rows = conn.execute(
                f"{hits_cte(query)} SELECT s.id, s.title, s.model, s.created, s.updated,"
                " (SELECT count(*) FROM messages m WHERE m.session_id = s.id), hits.mid"
                f" FROM sessions s LEFT JOIN hits ON hits.sid = s.id WHERE {SEARCH_WHERE}"
                " ORDER BY s.updated DESC, s.id DESC LIMIT :limit OFFSET :offset",
                {"q": query, "like": like, "limit": limit, "offset": offset},
            ).fetchall()
            snippets: dict[int, str] = {}
            hit_ids = [r[6] for r in rows if r[6] is not None]
            if hit_ids:
                marks = ", ".join("?" * len(hit_ids))
                snippets = dict(
                    conn.execute(
                        f"SELECT rowid, snippet(messages_fts, 0, '{SNIPPET_OPEN}', '{SNIPPET_CLOSE}', '…', {SNIPPET_WORDS})"
                        f" FROM messages_fts WHERE messages_fts MATCH ? AND rowid IN ({marks})",
                        (query, *hit_ids),
                    ).fetchall()
                )
            out = []
            for r in rows:
                text, spans = split_snippet(snippets[r[6]]) if r[6] in snippets else (None, ())
                out.append(SessionSummary(r[0], r[1], r[2], r[3], r[4], r[5], text, spans, r[6]))
            return out

        return self._read(action)

    def count_sessions(self, search: str | None = None) -> int:
        """How many sessions :meth:`list_sessions` would give without a limit."""
        if not search or not search.strip():
            return int(self._read(lambda c: c.execute("SELECT count(*) FROM sessions").fetchone()[0]))
        query = fts_query(search)
        sql = f"{hits_cte(query)} SELECT count(*) FROM sessions s LEFT JOIN hits ON hits.sid = s.id WHERE {SEARCH_WHERE}"
        return int(
            self._read(lambda c: c.execute(sql, {"q": query, "like": like_pattern(search)}).fetchone()[0])
        )

    def rename(self, session_id: int, title: str) -> None:
        title = " ".join(str(title).split())
        if not title:
            raise WorkbenchError("the new title is empty")

        def action(conn: sqlite3.Connection) -> None:
            if (
                conn.execute(
                    "UPDATE sessions SET title = ?, updated = ? WHERE id = ?",
                    (title, time.time(), session_id),
                ).rowcount
                == 0
            ):
                raise WorkbenchError(f"there is no session {session_id}")

        self._write(action)

    def update_session_settings(
        self,
        session_id: int,
        *,
        model: str | None = None,
        load: Any = None,
        sampling: Any = None,
        ui: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace the given parts of a session's settings (None leaves a part as it is).

        ``provenance`` is what the loaded model really is (``LoadedModel.provenance()``):
        the resolved source with its revision or file hash, the device and the dtype.
        """
        changes: dict[str, Any] = {}
        if model is not None:
            changes["model"] = model
        if load is not None:
            changes["load_settings"] = dump_json(settings_dict(load))
        if sampling is not None:
            changes["sampling_settings"] = dump_json(settings_dict(sampling))
        if ui is not None:
            changes["ui"] = dump_json(ui)
        if provenance is not None:
            changes["provenance"] = dump_json(provenance)
        changes["updated"] = time.time()
        assignments = ", ".join(f"{name} = :{name}" for name in changes)

        def action(conn: sqlite3.Connection) -> None:
            if (
                conn.execute(
                    f"UPDATE sessions SET {assignments} WHERE id = :id", {**changes, "id": session_id}
                ).rowcount
                == 0
            ):
                raise WorkbenchError(f"there is no session {session_id}")

        self._write(action)

    def delete(self, session_id: int) -> None:
        """Delete a session with its messages and token records."""

        def action(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount == 0:
                raise WorkbenchError(f"there is no session {session_id}")

        self._write(action)

    def duplicate(self, session_id: int) -> int:
        """A copy of a session (every branch, token records included); returns the new id."""

        def action(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None:
                raise WorkbenchError(f"there is no session {session_id}")
            now = time.time()
            title = f"{row[1]} (copy)" if row[1] else ""
            new_id = conn.execute(
                "INSERT INTO sessions (title, model, created, updated, load_settings, sampling_settings, ui,"
                " provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (title, row[2], now, now, row[5], row[6], row[7], row[9]),
            ).lastrowid
            mapping: dict[int, int] = {}
            for m in conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
            ).fetchall():
                status, stats = m[5], m[7]
                if status == "streaming":  # nobody will finish the copy
                    status, stats = "stopped", dump_json({**load_json(stats), "interrupted": True})
                mapping[m[0]] = conn.execute(
                    "INSERT INTO messages (session_id, parent_id, role, content, status, created, stats,"
                    " sampling_settings, token_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_id, mapping.get(m[2]), m[3], m[4], status, m[6], stats, m[8], m[9]),
                ).lastrowid  # type: ignore[assignment]
                conn.execute(
                    "INSERT INTO token_chunks (message_id, seq, first_index, count, data)"
                    " SELECT ?, seq, first_index, count, data FROM token_chunks WHERE message_id = ? ORDER BY seq",
                    (mapping[m[0]], m[0]),
                )
            conn.execute("UPDATE sessions SET active_leaf_id = ? WHERE id = ?", (mapping.get(row[8]), new_id))
            return int(new_id or 0)

        return self._write(action)

    # -- messages ---------------------------------------------------------------------------

    def add_message(
        self,
        session_id: int,
        role: str,
        content: str,
        *,
        parent_id: Any = ACTIVE_LEAF,
        status: str = "complete",
        stats: Mapping[str, Any] | None = None,
        sampling: Any = None,
        steps: Sequence[TokenStep] = (),
    ) -> int:
        """Save a whole message (a user message as it is sent) after ``parent_id`` (default:
        the active leaf) and make it the active leaf. The first user message names an
        untitled session."""
        check_message(role, content, status, final_only=False)
        now = time.time()
        sampling_json = dump_json(settings_dict(sampling)) if sampling is not None else None
        writer = writer_id() if status == "streaming" else None

        def action(conn: sqlite3.Connection) -> int:
            title, active = self._require_session(conn, session_id)
            parent = self._parent(conn, session_id, parent_id, active)
            message_id = int(
                conn.execute(
                    "INSERT INTO messages (session_id, parent_id, role, content, status, created, stats,"
                    " sampling_settings, token_count, writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        parent,
                        role,
                        content,
                        status,
                        now,
                        dump_json(stats),
                        sampling_json,
                        len(steps),
                        writer,
                    ),
                ).lastrowid
                or 0
            )
            insert_chunk(conn, message_id, steps, {})
            new_title = make_title(content) if role == "user" and not title else title
            conn.execute(
                "UPDATE sessions SET active_leaf_id = ?, updated = ?, title = ? WHERE id = ?",
                (message_id, now, new_title, session_id),
            )
            return message_id

        return self._write(action)

    def get_message(self, message_id: int) -> MessageRecord:
        row = self._read(
            lambda c: c.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        )
        if row is None:
            raise WorkbenchError(f"there is no message {message_id}")
        return self._record(row)

    def branch(self, leaf_id: int) -> list[MessageRecord]:
        """The conversation from its first message down to ``leaf_id``."""
        rows = self._read(lambda c: c.execute(BRANCH_SQL, (leaf_id,)).fetchall())
        if not rows:
            raise WorkbenchError(f"there is no message {leaf_id}")
        return [self._record(r) for r in rows]

    def children(self, message_id: int) -> list[MessageRecord]:
        """The messages that continue ``message_id`` (more than one where the chat branched)."""
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE parent_id = ? ORDER BY id", (message_id,)
            ).fetchall()
        )
        return [self._record(r) for r in rows]

    def tree(self, session_id: int) -> list[MessageRecord]:
        """Every message of a session, all branches, parents before children."""

        def action(conn: sqlite3.Connection) -> list[Any]:
            self._require_session(conn, session_id)
            return conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
            ).fetchall()

        return [self._record(r) for r in self._read(action)]

    def messages(self, session_id: int) -> list[MessageRecord]:
        """The active branch: what the chat shows, first message first."""

        def action(conn: sqlite3.Connection) -> list[Any]:
            _, active = self._require_session(conn, session_id)
            if active is None:  # e.g. the leaf was deleted: fall back on the newest message
                active = conn.execute(
                    "SELECT max(id) FROM messages WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
            return [] if active is None else conn.execute(BRANCH_SQL, (active,)).fetchall()

        return [self._record(r) for r in self._read(action)]

    def set_active_leaf(self, session_id: int, leaf_id: int) -> None:
        """Show another branch: ``leaf_id`` becomes the last message of the chat."""

        def action(conn: sqlite3.Connection) -> None:
            self._require_session(conn, session_id)
            self._parent(conn, session_id, leaf_id, None)
            conn.execute(
                "UPDATE sessions SET active_leaf_id = ?, updated = ? WHERE id = ?",
                (leaf_id, time.time(), session_id),
            )

        self._write(action)

    def token_steps(self, message_id: int) -> list[TokenStep]:
        """The token records of a reply, in order (empty for messages without any)."""
        chunks = self._read(
            lambda c: [
                r[0]
                for r in c.execute(
                    "SELECT data FROM token_chunks WHERE message_id = ? ORDER BY seq", (message_id,)
                )
            ]
        )
        try:
            return decode_chunks(chunks)
        except CodecError as exc:
            raise WorkbenchError(
                f"the token records of message {message_id} in {self.path} are damaged ({exc})"
            ) from None

    # -- whole sessions (import) and checks -------------------------------------------------

    def add_session(
        self,
        *,
        title: str,
        model: str,
        load: Any = None,
        sampling: Any = None,
        ui: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        created: float | None = None,
        updated: float | None = None,
        messages: Sequence[MessageDraft] = (),
        active_key: Any = None,
    ) -> int:
        """Write a whole session in one transaction (all or nothing); returns its id.
        Drafts must list parents before children; ``active_key`` defaults to the last one."""
        for draft in messages:
            check_message(draft.role, draft.content, draft.status, final_only=False)
        now = time.time()

        def action(conn: sqlite3.Connection) -> int:
            session_id = int(
                conn.execute(
                    "INSERT INTO sessions (title, model, created, updated, load_settings, sampling_settings, ui,"
                    " provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        " ".join(title.split()),
                        model,
                        now if created is None else created,
                        now if updated is None else updated,
                        dump_json(settings_dict(load)),
                        dump_json(settings_dict(sampling)),
                        dump_json(ui),
                        dump_json(provenance),
                    ),
                ).lastrowid
                or 0
            )
            ids: dict[Any, int] = {}
            for d in messages:
                if d.parent_key is not None and d.parent_key not in ids:
                    raise WorkbenchError(f"message {d.key!r} comes before its parent {d.parent_key!r}")
                status = "stopped" if d.status == "streaming" else d.status
                ids[d.key] = int(
                    conn.execute(
                        "INSERT INTO messages (session_id, parent_id, role, content, status, created, stats,"
                        " sampling_settings, token_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            session_id,
                            ids.get(d.parent_key),
                            d.role,
                            d.content,
                            status,
                            now if d.created is None else d.created,
                            dump_json(d.stats),
                            None if d.sampling is None else dump_json(d.sampling),
                            len(d.steps),
                        ),
                    ).lastrowid
                    or 0
                )
                insert_chunk(conn, ids[d.key], list(d.steps), {})
            leaf = (
                ids.get(active_key)
                if active_key is not None
                else (ids[messages[-1].key] if messages else None)
            )
            conn.execute("UPDATE sessions SET active_leaf_id = ? WHERE id = ?", (leaf, session_id))
            return session_id

        return self._write(action)

    def check(self) -> list[str]:
        """``PRAGMA integrity_check`` (["ok"] when the file is sound)."""
        return [r[0] for r in self._read(lambda c: c.execute("PRAGMA integrity_check").fetchall())]
