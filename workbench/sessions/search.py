"""Full-text search over sessions: FTS5 queries, the SQL pieces, and snippet marks."""

from __future__ import annotations

import re

SNIPPET_OPEN, SNIPPET_CLOSE = "\ue000", "\ue001"  # private-use marks, never in real text we keep
SNIPPET_WORDS = 12


def fts_query(text: str) -> str | None:
    """User words -> an FTS5 query: each word quoted (no syntax errors from ``"``, ``*``,
    ``-``, ``AND``...), all required, the last one matched as a prefix (search as you type)."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    return " ".join(quoted) + "*"


def split_snippet(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """FTS5 snippet text with our marks -> the plain text and the marked (start, end) spans."""
    plain, spans, start = [], [], 0
    length = 0
    for piece in re.split(f"([{SNIPPET_OPEN}{SNIPPET_CLOSE}])", marked):
        if piece == SNIPPET_OPEN:
            start = length
        elif piece == SNIPPET_CLOSE:
            spans.append((start, length))
        else:
            plain.append(piece)
            length += len(piece)
    return "".join(plain), tuple(spans)


def like_pattern(search: str) -> str:
    """A LIKE pattern (escape \\) matching ``search`` anywhere, for titles."""
    escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def hits_cte(query: str | None) -> str:
    """Per session, the newest message matching the full-text query (no rows without one)."""
    if query is None:
        return "WITH hits(sid, mid) AS (SELECT NULL, NULL WHERE 0)"
    return (
        "WITH hits(sid, mid) AS (SELECT m.session_id, max(m.id) FROM messages_fts"
        " JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH :q GROUP BY m.session_id)"
    )


SEARCH_WHERE = "(hits.sid IS NOT NULL OR s.title LIKE :like ESCAPE '\\')"
