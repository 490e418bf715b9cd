"""SessionStore against real SQLite files: schema, pragmas, migrations, refusals, round trips."""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.unit.helpers_sessions.steps import f32, make_steps
from workbench import paths
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.engine.steps import Candidate, TokenStep
from workbench.sessions import SessionStore, make_title
from workbench.sessions.db import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from workbench.sessions.tokencodec import decode_chunks, encode_chunk


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    with SessionStore(tmp_path / "workbench.db") as s:
        yield s


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def steps_close(a: list[TokenStep], b: list[TokenStep], rel: float = 1e-6) -> bool:
    """Equal but for float32 rounding of p, q and entropy."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        floats = [(x.p, y.p), (x.q, y.q), (x.entropy, y.entropy)]
        floats += [(c.p, d.p) for c, d in zip(x.candidates, y.candidates, strict=True)]
        floats += [(c.q, d.q) for c, d in zip(x.candidates, y.candidates, strict=True)]
        if not all(math.isclose(u, v, rel_tol=rel, abs_tol=1e-30) for u, v in floats):
            return False
        strip = (
            [(c.token_id, c.text, c.kind) for c in x.candidates],
            [(c.token_id, c.text, c.kind) for c in y.candidates],
        )
        if strip[0] != strip[1]:
            return False
        keys = ("index", "token_id", "label", "text", "rank", "chosen_by", "kind", "is_end")
        if any(getattr(x, k) != getattr(y, k) for k in keys):
            return False
    return True


# -- schema, pragmas, file mode ------------------------------------------------------------


def test_default_path_is_under_workbench_home(workbench_home: Path) -> None:
    with SessionStore() as s:
        assert s.path == paths.database_file()
        assert s.path.is_relative_to(workbench_home)
        assert s.path.exists()


def test_pragmas_schema_version_and_file_modes(store: SessionStore) -> None:
    sid = store.create_session("default")
    store.add_message(sid, "user", "hello")
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{store.path}{suffix}")
        assert path.exists(), suffix
        assert mode(path) == 0o600, suffix
    assert store.check() == ["ok"]


def test_a_wide_file_mode_is_tightened_on_open(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    SessionStore(path).close()
    os.chmod(path, 0o644)
    with SessionStore(path):
        assert mode(path) == 0o600


def test_empty_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    path.touch()
    with SessionStore(path) as s:
        assert s.list_sessions() == []
        assert s.backup is None


def test_a_database_that_cannot_be_created_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(WorkbenchError, match="cannot create the session database"):
        SessionStore(blocker / "workbench.db")
    assert blocker.read_text() == "a file where the data folder should be"


def _v1_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO sessions (id, title, model, created, updated) VALUES (1, 'old chat', 'default', 1.0, 2.0)"
    )
    conn.execute(
        "INSERT INTO messages (id, session_id, role, content, created) VALUES (1, 1, 'user', 'a needle in v1', 1.5)"
    )
    conn.execute("UPDATE sessions SET active_leaf_id = 1")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_migration_from_v1_keeps_data_and_leaves_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    _v1_database(path)
    with SessionStore(path) as s:
        assert s.backup == tmp_path / "workbench.db.bak-v1"
        assert [m.content for m in s.messages(1)] == ["a needle in v1"]
        assert s.get_session(1).title == "old chat"
        # v2 added full-text search: what v1 saved is indexed too
        assert [r.id for r in s.list_sessions(search="needle")] == [1]
        assert s._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    backup = sqlite3.connect(tmp_path / "workbench.db.bak-v1")
    assert backup.execute("PRAGMA user_version").fetchone()[0] == 1
    assert backup.execute("SELECT content FROM messages").fetchall() == [("a needle in v1",)]
    backup.close()
    assert mode(tmp_path / "workbench.db.bak-v1") == 0o600
    with SessionStore(path) as again:  # already current: no second backup
        assert again.backup is None


def _refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(WorkbenchError, match=match) as info:
        SessionStore(path)
    assert "untouched" in str(info.value)
    assert path.read_bytes() == before


def test_newer_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    with SessionStore(path) as s:
        s.add_message(s.create_session(), "user", "keep me")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    _refused(path, "newer workbench")


def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    _refused(path, "not an SQLite file")


def test_a_damaged_schema_page_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    with SessionStore(path) as s:
        s.add_message(s.create_session(), "user", "hello")
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1 after the header: the schema table
    path.write_bytes(bytes(data))
    _refused(path, "damaged")


def test_a_damaged_data_page_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    with SessionStore(path) as s:
        sid = s.create_session()
        for i in range(200):
            s.add_message(sid, "user", f"message {i} " + "x" * 500)
    data = bytearray(path.read_bytes())
    page = len(data) // 4096 // 2 * 4096  # a page in the middle: message rows
    data[page : page + 4096] = b"\x5a" * 4096
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(WorkbenchError, match="damaged|malformed"), SessionStore(path) as s:
        s.tree(sid)
        assert s.check() == ["ok"]  # only reached if the damage went unnoticed above
    assert path.read_bytes() == before


def test_a_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('alice')")
    conn.commit()
    conn.close()
    _refused(path, "not a workbench one.*users")


# -- messages and token records ------------------------------------------------------------


def test_token_codec_round_trip_is_exact_for_float32_values() -> None:
    steps = make_steps(120, seed=3)
    steps.append(
        TokenStep(
            120, 7, "lab\ud800el", "te\x1bxt", 0.25, 0.0, 99999, 0.0, (), chosen_by="user", kind="special"
        )
    )
    # a label that differs for the same id within one reply is kept too (stored as an exception)
    odd = steps[5].candidates[0]
    steps.append(
        TokenStep(
            121, odd.token_id, "other", "", 0.5, 0.5, 1, 0.125, (Candidate(odd.token_id, "x", 0.5, 0.5),)
        )
    )
    labels: dict = {}
    chunks = [encode_chunk(steps[i : i + 20], labels) for i in range(0, len(steps), 20)]
    assert decode_chunks(chunks) == steps


def test_token_codec_rounds_other_floats_to_float32() -> None:
    step = TokenStep(
        0, 1, "a", "a", 0.1, 0.3, 1, 2.0 / 3.0, (Candidate(1, "a", 0.1, 0.3), Candidate(2, "b", 1e-9, 0.0))
    )
    (back,) = decode_chunks([encode_chunk([step], {})])
    assert back != step
    assert steps_close([back], [step])
    assert back.p == f32(0.1)


def test_reply_streams_in_chunks_and_round_trips(store: SessionStore) -> None:
    sampling = SamplingSettings(temperature=0.7, top_k=40)
    sid = store.create_session("default", load=LoadSettings(dtype="float32"), sampling=sampling)
    user = store.add_message(sid, "user", "What is the capital of France?")
    steps = make_steps(75, seed=1)
    reply = store.start_reply(sid, user, sampling)
    assert store.get_message(reply).status == "streaming"
    chunk_rows = "SELECT seq, first_index, count, data FROM token_chunks WHERE message_id = ? ORDER BY seq"
    first_chunk = None
    for i in range(0, 60, 20):
        store.append_reply(reply, "".join(s.text for s in steps[: i + 20]), steps[i : i + 20])
        rows = store._conn.execute(chunk_rows, (reply,)).fetchall()
        first_chunk = first_chunk or rows[0]
        assert rows[0] == first_chunk  # appending never rewrites what was saved
        assert store.get_message(reply).token_count == i + 20
        assert store.token_steps(reply) == steps[: i + 20]
    assert [r[:3] for r in rows] == [(0, 0, 20), (1, 20, 20), (2, 40, 20)]
    content = "".join(s.text for s in steps)
    store.finish_reply(reply, content, "complete", {"tokens_per_s": 12.5, "finish_reason": "eos"}, steps[60:])
    # once finished, the reply is one chunk (small chunks waste most of a page each)
    assert [r[:3] for r in store._conn.execute(chunk_rows, (reply,))] == [(0, 0, 75)]

    messages = store.messages(sid)
    assert [m.chat() for m in messages] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": content},
    ]
    assert messages[1].status == "complete" and not messages[1].interrupted
    assert messages[1].stats == {"tokens_per_s": 12.5, "finish_reason": "eos"}
    assert messages[1].sampling == sampling.to_dict()
    assert messages[1].token_count == 75
    assert store.token_steps(reply) == steps
    assert store.token_steps(user) == []
    session = store.get_session(sid)
    assert session.sampling_settings() == sampling
    assert session.load_settings() == LoadSettings(dtype="float32")
    assert session.active_leaf_id == reply


def test_reply_left_streaming_reads_as_interrupted_with_what_was_saved(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    steps = make_steps(30, seed=2)
    writer = SessionStore(path)
    sid = writer.create_session()
    writer.add_message(sid, "user", "go on")
    reply = writer.start_reply(sid)
    writer.append_reply(reply, "partial", steps[:20])
    assert writer.get_message(reply).status == "streaming"  # its own writer still sees it live
    writer._conn.close()  # the process dies without finish_reply
    with SessionStore(path) as reader:
        message = reader.messages(sid)[-1]
        assert (message.status, message.interrupted, message.content) == ("stopped", True, "partial")
        assert reader.token_steps(reply) == steps[:20]
        # a store that did not start the reply can still finish it (labels read back from its chunks)
        reader.finish_reply(
            reply, "partial and more", "stopped", {"finish_reason": "interrupted"}, steps[20:]
        )
        assert reader.token_steps(reply) == steps
        assert not reader.get_message(reply).interrupted


def test_a_killed_writers_reply_is_marked_stopped_in_the_file_and_searchable(tmp_path: Path) -> None:
    path = tmp_path / "workbench.db"
    writer = SessionStore(path)
    sid = writer.create_session()
    reply = writer.start_reply(sid)
    writer.append_reply(reply, "the half-written word xylophone", make_steps(20))
    assert writer.list_sessions(search="xylophone") == []  # a streaming reply is not indexed yet
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = socket.gethostname()
    writer._conn.execute("UPDATE messages SET writer = ? WHERE id = ?", (f"{host}:{int(gone.stdout)}", reply))
    writer._conn.close()  # as if that (now finished) process had been killed mid-reply
    with SessionStore(path) as store:
        status, stats = store._conn.execute(
            "SELECT status, stats FROM messages WHERE id = ?", (reply,)
        ).fetchone()
        assert (status, json.loads(stats)) == ("stopped", {"interrupted": True})
        message = store.get_message(reply)
        assert (message.status, message.interrupted, message.token_count) == ("stopped", True, 20)
        assert [h.id for h in store.list_sessions(search="xylophone")] == [sid]


def test_finish_and_append_refuse_what_is_not_a_live_reply(store: SessionStore) -> None:
    sid = store.create_session()
    user = store.add_message(sid, "user", "hi")
    with pytest.raises(WorkbenchError, match="not a reply being written"):
        store.append_reply(user, "x", [])
    reply = store.start_reply(sid)
    store.finish_reply(reply, "done")
    with pytest.raises(WorkbenchError, match="not a reply being written"):
        store.finish_reply(reply, "again")
    with pytest.raises(WorkbenchError, match="status"):
        store.finish_reply(store.start_reply(sid), "x", status="streaming")
    with pytest.raises(WorkbenchError, match="role"):
        store.add_message(sid, "tool", "x")
    with pytest.raises(WorkbenchError, match="no session"):
        store.add_message(999, "user", "x")


def test_store_can_be_used_from_a_worker_thread(store: SessionStore) -> None:
    sid = store.create_session()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            reply = store.start_reply(sid)
            store.finish_reply(reply, "from a thread", remaining_steps=make_steps(3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert store.messages(sid)[-1].content == "from a thread"


# -- tree ----------------------------------------------------------------------------------


def test_tree_branch_and_children(store: SessionStore) -> None:
    sid = store.create_session()
    system = store.add_message(sid, "system", "be brief")
    q = store.add_message(sid, "user", "question")
    a1 = store.add_message(sid, "assistant", "first answer")
    follow = store.add_message(sid, "user", "follow-up")
    a2 = store.add_message(sid, "assistant", "second answer", parent_id=q)  # a regenerated reply: a branch
    assert store.get_session(sid).active_leaf_id == a2
    assert [m.id for m in store.messages(sid)] == [system, q, a2]
    assert [m.id for m in store.branch(follow)] == [system, q, a1, follow]
    assert [m.id for m in store.children(q)] == [a1, a2]
    assert store.children(a2) == []
    assert [m.id for m in store.tree(sid)] == [system, q, a1, follow, a2]
    store.set_active_leaf(sid, follow)
    assert [m.content for m in store.messages(sid)] == ["be brief", "question", "first answer", "follow-up"]
    other = store.create_session()
    with pytest.raises(WorkbenchError, match="not in session"):
        store.add_message(other, "user", "x", parent_id=q)
    root = store.add_message(sid, "user", "a new root", parent_id=None)
    assert store.branch(root)[0].parent_id is None


# -- search, titles, list ------------------------------------------------------------------


def test_full_text_search_finds_a_word_from_a_reply(store: SessionStore) -> None:
    one = store.create_session()
    store.add_message(one, "user", "Tell me about France")
    reply = store.start_reply(one)
    store.append_reply(reply, "The capital is Lutetia", [])
    store.finish_reply(reply, "The capital of France is Paris, on the Seine.")
    two = store.create_session()
    store.add_message(two, "user", "Something else entirely")

    hits = store.list_sessions(search="seine")
    assert [h.id for h in hits] == [one]
    snippet, spans = hits[0].snippet, hits[0].snippet_spans
    assert snippet is not None and "Seine" in snippet
    assert [snippet[a:b] for a, b in spans] == ["Seine"]
    assert [h.id for h in store.list_sessions(search="par")] == [one]  # the last word is a prefix
    assert store.list_sessions(search="lutetia") == []  # the streamed text was replaced in the index
    assert store.count_sessions("capital france") == 1
    assert store.count_sessions("entirely") == 1
    for nasty in ['"', "AND", "*", "-x", "a:b", "NEAR(", "'"]:
        store.list_sessions(search=nasty)  # no FTS syntax error reaches the caller
    store.rename(two, "Holiday plans")
    assert [h.id for h in store.list_sessions(search="holiday")] == [two]  # titles match too
    assert store.list_sessions(search="holiday")[0].snippet is None
    store.delete(one)
    assert store.list_sessions(search="seine") == []


def test_make_title() -> None:
    assert make_title("\n  Hello   there \nsecond line") == "Hello there"
    long = make_title("word " * 40)
    assert len(long) <= 60 and long.endswith("…") and not long.endswith(" …")
    assert make_title("x" * 100) == "x" * 59 + "…"
    assert make_title("   ") == ""


def test_titles_come_from_the_first_user_message_and_can_be_renamed(store: SessionStore) -> None:
    sid = store.create_session()
    store.add_message(sid, "system", "You are helpful")
    assert store.get_session(sid).title == ""
    store.add_message(sid, "user", "How do magnets work?\nPlease explain simply.")
    store.add_message(sid, "user", "Another question")
    assert store.get_session(sid).title == "How do magnets work?"
    store.rename(sid, "  Magnets\n ")
    assert store.get_session(sid).title == "Magnets"
    with pytest.raises(WorkbenchError, match="empty"):
        store.rename(sid, "  ")
    with pytest.raises(WorkbenchError, match="no session"):
        store.rename(12345, "x")


def test_list_sessions_newest_first_with_counts(store: SessionStore) -> None:
    ids = []
    for i in range(5):
        sid = store.create_session(f"model-{i}")
        for j in range(i):
            store.add_message(sid, "user", f"message {j}")
        ids.append(sid)
    store.add_message(ids[1], "user", "touch: now the newest")
    rows = store.list_sessions()
    assert [r.id for r in rows] == [ids[1], ids[4], ids[3], ids[2], ids[0]]
    assert [r.message_count for r in rows] == [2, 4, 3, 2, 0]
    assert rows[0].model == "model-1"
    assert [r.id for r in store.list_sessions(limit=2, offset=1)] == [ids[4], ids[3]]
    assert store.count_sessions() == 5
    assert store.latest_session_id() == ids[1]
    assert store.resolve("last") == ids[1]
    assert store.resolve(str(ids[2])) == ids[2]
    with pytest.raises(WorkbenchError, match="'last' or a number"):
        store.resolve("yesterday")
    with pytest.raises(WorkbenchError, match="no session"):
        store.resolve("999")


def test_update_session_settings(store: SessionStore) -> None:
    sid = store.create_session("default", sampling=SamplingSettings())
    store.update_session_settings(
        sid,
        model="HuggingFaceTB/SmolLM2-360M-Instruct",
        sampling=SamplingSettings(temperature=0.2),
        ui={"system_prompt": "hi"},
    )
    session = store.get_session(sid)
    assert session.model == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert session.sampling_settings().temperature == 0.2
    assert session.ui == {"system_prompt": "hi"}
    assert session.load_settings().model == "HuggingFaceTB/SmolLM2-360M-Instruct"


# -- duplicate and delete ------------------------------------------------------------------


def test_duplicate_copies_messages_tree_and_tokens(store: SessionStore) -> None:
    sid = store.create_session("default", sampling={"temperature": 0.5}, ui={"system_prompt": "s"})
    q = store.add_message(sid, "user", "question")
    steps = make_steps(25, seed=4)
    reply = store.start_reply(sid, q)
    store.finish_reply(reply, "answer", "stopped", {"tokens": 25}, steps)
    store.add_message(sid, "assistant", "alternative", parent_id=q)
    store.set_active_leaf(sid, reply)

    copy = store.duplicate(sid)
    assert copy != sid
    original, copied = store.get_session(sid), store.get_session(copy)
    assert copied.title == "question (copy)"
    assert (copied.model, copied.sampling, copied.ui) == (original.model, original.sampling, original.ui)
    assert [(m.role, m.content, m.status) for m in store.messages(copy)] == [
        ("user", "question", "complete"),
        ("assistant", "answer", "stopped"),
    ]
    assert len(store.tree(copy)) == 3
    copied_reply = store.messages(copy)[-1]
    assert copied_reply.id != reply and store.token_steps(copied_reply.id) == steps
    store.delete(sid)
    assert store.token_steps(copied_reply.id) == steps  # the copy does not share rows


def test_delete_cascades_to_messages_and_token_records(store: SessionStore) -> None:
    keep = store.create_session()
    store.add_message(keep, "user", "keep")
    sid = store.create_session()
    for i in range(30):  # a long chain: deleting must not recurse message by message
        store.add_message(sid, "user" if i % 2 == 0 else "assistant", f"m{i}", steps=make_steps(3, seed=i))
    store.delete(sid)
    count = lambda sql: store._conn.execute(sql).fetchone()[0]  # noqa: E731
    assert count(f"SELECT count(*) FROM messages WHERE session_id = {sid}") == 0
    assert count("SELECT count(*) FROM token_chunks") == 0
    assert count("SELECT count(*) FROM messages") == 1
    assert [r.id for r in store.list_sessions()] == [keep]
    with pytest.raises(WorkbenchError, match="no session"):
        store.get_session(sid)
    with pytest.raises(WorkbenchError, match="no session"):
        store.delete(sid)
    assert store.check() == ["ok"]
