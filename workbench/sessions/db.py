"""Opening the session database: checks, pragmas, migrations, retries.

An existing file is inspected through a read-only connection before anything is written:
a file that is not SQLite, a damaged one, one from a newer workbench, or someone else's
SQLite database raises a :class:`WorkbenchError` and is left exactly as it was.
An older workbench database is copied (SQLite's backup API, so the copy includes what is
still in the WAL) to ``workbench.db.bak-v<N>`` and then migrated in one transaction.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from workbench.engine.errors import WorkbenchError

BUSY_TIMEOUT_MS = 5000
RETRY_FOR_S = 30.0  # on top of the busy timeout, for the cases SQLite's busy handler skips
SQLITE_MAGIC = b"SQLite format 3\x00"
FILE_MODE = 0o600

T = TypeVar("T")

APPLICATION_ID = 0x57424E43  # "WBNC" in the SQLite header: marks the file as ours

# MIGRATIONS[n] takes a database from schema version n to n + 1; each is a list of single
# statements (executescript would commit the surrounding transaction). Never edit a shipped
# step: add a new one.
MIGRATIONS: list[list[str]] = [
    [  # 1: sessions, the message tree, per-token chunks
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            load_settings TEXT NOT NULL DEFAULT '{}',
            sampling_settings TEXT NOT NULL DEFAULT '{}',
            ui TEXT NOT NULL DEFAULT '{}',
            active_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL
        )""",
        "CREATE INDEX sessions_by_updated ON sessions(updated DESC, id DESC)",
        "CREATE INDEX sessions_by_leaf ON sessions(active_leaf_id)",  # FK lookups on message delete
        # parent_id is checked at commit (deferred) and has no cascade: deleting a session
        # deletes its messages through session_id, and a per-message cascade down a long
        # chain would hit SQLite's recursion limit.
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) DEFERRABLE INITIALLY DEFERRED,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'stopped', 'error', 'streaming')),
            created REAL NOT NULL,
            stats TEXT NOT NULL DEFAULT '{}',
            sampling_settings TEXT,
            token_count INTEGER NOT NULL DEFAULT 0,
            writer TEXT  -- "host:pid" of the process streaming it, to recover after a kill
        )""",
        "CREATE INDEX messages_by_session ON messages(session_id, id)",
        "CREATE INDEX messages_by_parent ON messages(parent_id)",
        "CREATE INDEX messages_streaming ON messages(id) WHERE status = 'streaming'",
        """CREATE TABLE token_chunks (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            first_index INTEGER NOT NULL,
            count INTEGER NOT NULL,
            data BLOB NOT NULL,
            UNIQUE (message_id, seq)
        )""",
    ],
    [  # 2: full-text search over message content, kept in sync by triggers
        # A reply is indexed once it stops streaming: re-indexing its growing text at every
        # save left ~100 stale versions per reply for FTS5 to merge away.
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END""",
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END""",
        # one trigger, two ordered statements: the old entry must go before the new one comes
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
                SELECT 'delete', old.id, old.content WHERE old.status != 'streaming';
            INSERT INTO messages_fts(rowid, content) SELECT new.id, new.content WHERE new.status != 'streaming';
        END""",
        # index what v1 saved (not 'rebuild': that would index streaming rows too)
        "INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages WHERE status != 'streaming'",
    ],
    [  # 3: what the session's model really was (LoadedModel.provenance(): source, hash, device, dtype)
        "ALTER TABLE sessions ADD COLUMN provenance TEXT NOT NULL DEFAULT '{}'",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class DatabaseBusyError(WorkbenchError):
    """Another process held the database for longer than we were willing to wait."""


# SQLite primary result codes (the low byte of an extended code).
SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_FULL = 8, 10, 14, 13
LOW_SPACE_BYTES = 1 << 20  # below this SQLite cannot count on room for its -wal/-shm files
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _existing(folder: Path) -> Path:
    """``folder`` or its nearest existing parent (the data folder may not be made yet)."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _free_bytes(folder: Path) -> int | None:
    try:
        stats = os.statvfs(_existing(folder))
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def _read_only_reason(path: Path) -> str | None:
    """Why the data folder (or the database file) cannot be written, if it cannot."""
    folder = _existing(path.parent)
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return "no write permission"
    if path.exists() and not os.access(path, os.W_OK):
        return "the database file itself is not writable"
    return None


def environment_error(path: Path, exc: BaseException) -> WorkbenchError | None:
    """The read-only folder or full disk behind ``exc`` (an OSError or sqlite3 error met while
    opening ``path``), named as such; None when the cause is neither.

    SQLite often reports them vaguely ("unable to open database file", "disk I/O error" when
    it cannot grow its -shm file), so the folder itself is checked too.
    """
    folder = path.parent
    code = exc.errno if isinstance(exc, OSError) else None
    sqlite_code = getattr(exc, "sqlite_errorcode", None)
    primary = sqlite_code & 0xFF if isinstance(sqlite_code, int) else None
    free = _free_bytes(folder)
    if (
        code in _FULL_ERRNOS
        or primary == SQLITE_FULL
        or (primary in (SQLITE_IOERR, SQLITE_CANTOPEN) and free is not None and free < LOW_SPACE_BYTES)
    ):
        shown = "nothing" if not free else f"{free // 1024} KiB"
        return WorkbenchError(
            f"the disk holding {folder} is full ({shown} free), so the session database cannot be written; "
            "free some space, or set WORKBENCH_HOME to a folder on another disk. The database was left as it was."
        )
    if code in _READ_ONLY_ERRNOS or primary in (SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN):
        reason = _read_only_reason(path)
        if reason is not None or code == errno.EROFS:
            return WorkbenchError(
                f"the data folder {folder} is read-only ({reason or 'a read-only file system'}), so the session "
                "database cannot be opened for writing; make it writable, or set WORKBENCH_HOME to a writable "
                "folder. The database was left as it was."
            )
    return None


def damaged_error(path: Path, exc: BaseException) -> WorkbenchError:
    return WorkbenchError(
        f"the session database {path} is damaged ({exc}); it was left untouched: move it away to start a new "
        "one, or set WORKBENCH_HOME to use another folder"
    )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retrying(action: Callable[[], T], path: Path | str = "") -> T:
    """Run ``action``, retrying while another connection holds a lock.

    The busy timeout covers most waits; this covers the rest (a lock needed at open, or a
    busy error SQLite returns at once to avoid a deadlock) so no caller sees "locked".
    """
    deadline = time.monotonic() + RETRY_FOR_S
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            if time.monotonic() > deadline:
                raise DatabaseBusyError(
                    f"the session database {path} stayed busy for {RETRY_FOR_S:.0f} s (another workbench is writing); "
                    "try again"
                ) from None
            time.sleep(delay * (0.5 + random.random()))  # jitter: two retriers should not collide again
            delay = min(delay * 2, 0.2)


def _tighten(path: Path) -> None:
    """Mode 0600 for the database and its -wal/-shm (SQLite copies the db's mode, but an
    older file or a wide umask at creation may have left them wider)."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(candidate, FILE_MODE)


def _create_empty(path: Path) -> None:
    """Create the file with mode 0600 before SQLite opens it (SQLite gives -wal/-shm its mode)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except OSError as exc:
        raise environment_error(path, exc) or WorkbenchError(
            f"cannot create the session database {path}: {exc.strerror or exc}"
        ) from None


def _read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)


def inspect(path: Path) -> int:
    """The schema version of the workbench database at ``path`` (0 when new or empty).

    Raises a :class:`WorkbenchError` for anything we must not touch; writes nothing.
    """
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise environment_error(path, exc) or WorkbenchError(
            f"cannot read the session database {path}: {exc.strerror or exc}"
        ) from None
    if header != SQLITE_MAGIC:
        raise WorkbenchError(
            f"{path} is not a workbench session database (not an SQLite file: damaged, or something else); "
            "it was left untouched: move it away to start a new one, or set WORKBENCH_HOME to use another folder"
        )
    try:
        conn = _read_only(path)
        try:
            version, app_id, tables = retrying(lambda: _probe(conn), path)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            raise
        raise environment_error(path, exc) or damaged_error(path, exc) from None
    if app_id != APPLICATION_ID:
        if version == 0 and not tables and app_id == 0:
            return 0  # an empty SQLite file: ours to initialise
        listed = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise WorkbenchError(
            f"{path} is an SQLite database but not a workbench one (tables: {listed or 'none'}); it was left "
            "untouched: move it away, or set WORKBENCH_HOME to use another folder"
        )
    if version > SCHEMA_VERSION:
        raise WorkbenchError(
            f"the session database {path} was written by a newer workbench (schema version {version}; this one "
            f"knows up to {SCHEMA_VERSION}); upgrade workbench to open it. It was left untouched."
        )
    return version


def _probe(conn: sqlite3.Connection) -> tuple[int, int, list[str]]:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    rows = conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return version, app_id, [r[0] for r in rows]


def backup_path(path: Path, version: int) -> Path:
    """``workbench.db.bak-v<N>``; never an existing file (an earlier backup is kept)."""
    target = path.with_name(f"{path.name}.bak-v{version}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bak-v{version}.{n}")
    return target


def _backup(path: Path, version: int) -> Path:
    target = backup_path(path, version)
    _create_empty(target)
    try:
        source, copy = _read_only(path), sqlite3.connect(target)
        try:
            retrying(lambda: source.backup(copy), path)
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as exc:
        with contextlib.suppress(OSError):
            target.unlink()  # a partial copy is no backup
        raise environment_error(path, exc) or WorkbenchError(
            f"could not back up the session database {path} before upgrading it ({exc}); it was left untouched"
        ) from None
    return target


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise WorkbenchError(f"the session database could not switch to WAL mode (got {mode!r})")
    # NORMAL is durable against a killed process in WAL mode (the OS has the pages); only a
    # power cut can lose the last commits, and it never corrupts the file.
    conn.execute("PRAGMA synchronous = NORMAL")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")  # outside the try: nothing to roll back if it fails
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise WorkbenchError(f"the session database {path} was upgraded by a newer workbench meanwhile")
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect(path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """Open (creating or upgrading as needed) the database at ``path``.

    Returns the connection, in autocommit mode (callers use explicit ``BEGIN IMMEDIATE``),
    and the backup made before a migration, if one was.
    """
    path = Path(path)
    version = inspect(path)
    backup = None
    if version and version < SCHEMA_VERSION:
        backup = _backup(path, version)
    if not path.exists():
        _create_empty(path)
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise environment_error(path, exc) or WorkbenchError(
            f"cannot open the session database {path}: {exc}"
        ) from None
    try:
        retrying(lambda: _configure(conn), path)
        if version < SCHEMA_VERSION:
            retrying(lambda: _migrate(conn, path), path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        named = environment_error(path, exc)
        if backup is not None:
            why = str(named) if named is not None else str(exc)
            raise WorkbenchError(
                f"could not upgrade the session database {path} ({why}); a copy is at {backup}"
            ) from None
        raise named or damaged_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    _tighten(path)
    return conn, backup
