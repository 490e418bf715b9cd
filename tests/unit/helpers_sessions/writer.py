"""Streams replies through a SessionStore exactly as the app does, forever or for a while.

    python writer.py DB TAG SECONDS

Prints "ready" once the store is open, then after each finish_reply has committed one line
"<reply id> <seed> <session id> <user message id>". The tests kill it with SIGKILL at random
moments, or run two at once, and check that every reported reply is in the database.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

from tests.unit.helpers_sessions.steps import make_reply  # noqa: E402
from workbench.sessions import SessionStore  # noqa: E402

CHUNK = 20  # tokens per append_reply, as the app saves about once a second


def main() -> int:
    db, tag, seconds = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    store = SessionStore(db)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
    n = 0
    session = None
    while time.monotonic() < deadline:
        if n % 3 == 0:
            session = store.create_session("default", sampling={"temperature": 0.7}, ui={"tag": tag})
        seed = tag * 100_000 + n
        user = store.add_message(session, "user", f"question {seed}")
        content, steps = make_reply(seed, 40 + n % 50)
        reply = store.start_reply(session, user, {"temperature": 0.7})
        done = 0
        while len(steps) - done > CHUNK:
            done += CHUNK
            store.append_reply(reply, "".join(s.text for s in steps[:done]), steps[done - CHUNK : done])
        store.finish_reply(reply, content, "complete", {"tokens": len(steps)}, steps[done:])
        print(f"{reply} {seed} {session} {user}", flush=True)
        n += 1
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
