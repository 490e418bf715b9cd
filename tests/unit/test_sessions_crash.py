"""Crash safety: writers killed with SIGKILL mid-stream, and two writers at once.

The writer (helpers_sessions/writer.py) streams replies exactly as the app does and prints a
reply's id only after finish_reply has committed; what it printed must survive the kill.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.unit.helpers_sessions.steps import make_reply
from workbench.sessions import SessionStore

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).resolve().parent / "helpers_sessions" / "writer.py"
TRIALS = 24


def start_writer(db: Path, tag: int, seconds: float = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(tag), str(seconds)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def collect(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Read the writer's stdout on a thread: every complete line is a committed reply."""

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.endswith("\n"):
                lines.append(line.strip())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def verify(db: Path, reported: list[str], everything: bool = True) -> dict[int, tuple[str, int]]:
    """Every reported reply is complete with its content and tokens; nothing is half-saved.

    ``everything=False`` looks only at the replies cut short (status "stopped"), not at every
    assistant message, to keep the 20+ trials quick. Returns the
    verified replies' text and token count, by id.
    """
    verified = {}
    with SessionStore(db) as store:
        assert store.check() == ["ok"]
        for line in reported:
            reply, seed, session, user = (int(x) for x in line.split())
            content, steps = make_reply(seed, 40 + (seed % 100_000) % 50)
            message = store.get_message(reply)
            assert (message.status, message.content, message.token_count) == ("complete", content, len(steps))
            assert store.token_steps(reply) == steps
            assert store.get_message(user).content == f"question {seed}"
            assert message.session_id == session and message.parent_id == user
            verified[reply] = (content, len(steps))
        # replies cut short by the kill were marked as such when the store opened (the writer is
        # gone), and their text and token records were saved together
        assert (
            store._conn.execute("SELECT count(*) FROM messages WHERE status = 'streaming'").fetchone()[0] == 0
        )
        where = "role = 'assistant'" if everything else "status = 'stopped'"
        for (message_id,) in store._conn.execute(f"SELECT id FROM messages WHERE {where}").fetchall():
            message, saved = store.get_message(message_id), store.token_steps(message_id)
            assert message.content == "".join(s.text for s in saved)
            assert message.token_count == len(saved)
            assert message.status == "complete" or (message.status, message.interrupted) == ("stopped", True)
    return verified


def still_there(db: Path, verified: dict[int, tuple[str, int]]) -> None:
    """After the last kill: every reply verified after an earlier kill is still intact."""
    with SessionStore(db) as store:
        assert store.check() == ["ok"]
        rows = store._conn.execute(
            "SELECT id, content, token_count, status FROM messages WHERE role = 'assistant'"
        )
        saved = {r[0]: (r[1], r[2]) for r in rows if r[3] == "complete"}
    assert {k: saved.get(k) for k in verified} == verified


def test_sigkill_at_random_moments_loses_no_committed_reply(tmp_path: Path) -> None:
    db = tmp_path / "workbench.db"
    rng = random.Random(4)
    reported: list[str] = []
    verified: dict[int, tuple[str, int]] = {}
    kills_after_ready = 0
    for trial in range(TRIALS):
        proc = start_writer(db, tag=trial + 1)
        lines: list[str] = []
        reader = collect(proc, lines)
        # The random moment of the kill, from the start of the process: early ones land while
        # it opens (or creates) the database, later ones while it streams or finishes a reply.
        time.sleep(rng.uniform(0.0, 0.1) if trial < 3 else rng.uniform(0.15, 0.45))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        kills_after_ready += bool(lines)
        new = [line for line in lines if line != "ready"]
        verified.update(verify(db, new, everything=False))
        reported += new
        if proc.stderr:
            proc.stderr.close()
    still_there(db, verified)
    assert kills_after_ready >= TRIALS // 2  # most kills hit a live writer, not a starting one
    assert len(reported) > TRIALS  # and replies were committed before the kills


def test_two_writers_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "workbench.db"
    SessionStore(db).close()  # both writers open an existing database
    procs = [start_writer(db, tag=tag, seconds=2.0) for tag in (101, 102)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err and "busy" not in err
    reported = [line for out, _ in outputs for line in out.splitlines() if line != "ready"]
    per_writer = [sum(1 for line in out.splitlines() if line != "ready") for out, _ in outputs]
    assert min(per_writer) >= 5, per_writer  # both really wrote during the overlap
    assert len(verify(db, reported)) == len(reported)
    with SessionStore(db) as store:
        sessions = store.count_sessions()
    assert sessions == sum((n + 2) // 3 for n in per_writer)  # a session every third reply
