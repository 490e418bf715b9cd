"""Saved chat sessions: an SQLite store (stdlib ``sqlite3``), its schema migrations, and
JSON/Markdown export and import. No torch, transformers or Textual here: the command line
and the UI both use it.

    from workbench.sessions import SessionStore
    with SessionStore() as store:            # <data dir>/workbench.db
        sid = store.create_session("default")
        store.add_message(sid, "user", "Hello")
        reply = store.start_reply(sid, settings=sampling)
        store.append_reply(reply, text_so_far, new_steps)   # about once a second
        store.finish_reply(reply, text, "complete", stats, remaining_steps)
"""

from __future__ import annotations

from workbench.sessions.records import MessageRecord, SessionRecord, SessionSummary, make_title
from workbench.sessions.store import ACTIVE_LEAF, MessageDraft, NoDatabaseError, SessionStore

__all__ = [
    "ACTIVE_LEAF",
    "MessageDraft",
    "MessageRecord",
    "NoDatabaseError",
    "SessionRecord",
    "SessionStore",
    "SessionSummary",
    "make_title",
]
