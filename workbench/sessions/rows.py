"""Rows of the session database: JSON columns, column lists, records from rows, message checks,
token-record chunks. Shared by the store and its reply writer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from workbench.engine.errors import WorkbenchError
from workbench.engine.steps import TokenStep
from workbench.sessions.records import ROLES, STATUSES, MessageRecord, SessionRecord
from workbench.sessions.tokencodec import Labels, encode_chunk

FINAL_STATUSES = ("complete", "stopped", "error")


class _ActiveLeaf:
    def __repr__(self) -> str:
        return "ACTIVE_LEAF"


ACTIVE_LEAF: Any = _ActiveLeaf()  # default parent: the session's active leaf (None = a root)


def insert_chunk(
    conn: sqlite3.Connection, message_id: int, steps: Sequence[TokenStep], labels: Labels
) -> None:
    """Append one chunk of token records to a message."""
    if not steps:
        return
    seq = conn.execute(
        "SELECT coalesce(max(seq) + 1, 0) FROM token_chunks WHERE message_id = ?", (message_id,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO token_chunks (message_id, seq, first_index, count, data) VALUES (?, ?, ?, ?, ?)",
        (message_id, seq, steps[0].index, len(steps), encode_chunk(steps, labels)),
    )


MESSAGE_COLUMNS = (
    "id, session_id, parent_id, role, content, status, created, stats, sampling_settings, token_count"
)
# Root-to-leaf: walk parent links up from the leaf, then read the path deepest-last.
BRANCH_SQL = (
    "WITH RECURSIVE path(id, depth) AS (SELECT ?, 0 UNION ALL"
    " SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id"
    " WHERE m.parent_id IS NOT NULL)"
    f" SELECT {', '.join('m.' + c for c in MESSAGE_COLUMNS.split(', '))}"
    " FROM path JOIN messages m ON m.id = path.id ORDER BY path.depth DESC"
)
SESSION_COLUMNS = (
    "id, title, model, created, updated, load_settings, sampling_settings, ui, active_leaf_id, provenance"
)


def dump_json(value: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(value or {}), ensure_ascii=False, separators=(",", ":"))


def load_json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def settings_dict(value: Any) -> dict[str, Any]:
    """LoadSettings/SamplingSettings (anything with ``to_dict``), a mapping, or None -> dict."""
    if value is None:
        return {}
    if hasattr(value, "to_dict"):
        return dict(value.to_dict())
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"settings must be a settings object or a mapping, not {type(value).__name__}")


def message_from_row(row: Sequence[Any], live: Collection[int]) -> MessageRecord:
    """A messages row (MESSAGE_COLUMNS); a reply still "streaming" that is not in ``live`` (the
    replies this store is writing) reads as stopped and interrupted."""
    status, stats = row[5], load_json(row[7])
    interrupted = stats.get("interrupted") is True
    if status == "streaming" and row[0] not in live:
        status, interrupted = "stopped", True
    sampling = load_json(row[8]) if row[8] is not None else None
    return MessageRecord(
        id=row[0],
        session_id=row[1],
        parent_id=row[2],
        role=row[3],
        content=row[4],
        status=status,
        created=row[6],
        stats=stats,
        sampling=sampling,
        token_count=row[9],
        interrupted=interrupted,
    )


def session_from_row(row: Sequence[Any]) -> SessionRecord:
    """A sessions row (SESSION_COLUMNS)."""
    return SessionRecord(
        id=row[0],
        title=row[1],
        model=row[2],
        created=row[3],
        updated=row[4],
        load=load_json(row[5]),
        sampling=load_json(row[6]),
        ui=load_json(row[7]),
        active_leaf_id=row[8],
        provenance=load_json(row[9]),
    )


def check_message(role: str, content: Any, status: str, *, final_only: bool) -> None:
    if role not in ROLES:
        raise WorkbenchError(f"a message role must be one of {', '.join(ROLES)}, not {role!r}")
    if not isinstance(content, str):
        raise WorkbenchError(f"message content must be text, not {type(content).__name__}")
    allowed = FINAL_STATUSES if final_only else STATUSES
    if status not in allowed:
        raise WorkbenchError(f"a message status must be one of {', '.join(allowed)}, not {status!r}")
