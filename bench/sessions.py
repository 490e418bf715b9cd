"""Session store speed and size, on a real SQLite file in a temporary folder.

Prints the time to save a 2,000-token reply with top-10 candidates (append_reply every 20
tokens, then finish_reply), to open a session of 1,000 messages, to list 10,000 sessions,
and the bytes stored per token, with the label-storage variants measured side by side.

    python bench/sessions.py [--tokens 2000] [--messages 1000] [--sessions 10000] [--rounds 5]

The token records are synthetic but shaped like real ones: candidate ids drawn from a
Zipf distribution over a 49,152-token vocabulary (common tokens recur, as in real text),
probabilities float32, ``q`` renormalised over a top-p cut, labels 1-12 characters.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workbench.engine.steps import Candidate, TokenStep
from workbench.sessions import MessageDraft, SessionStore
from workbench.sessions.tokencodec import encode_chunk

VOCAB = 49_152
CHUNK = 20  # tokens per append_reply: the app saves about once a second


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def synthetic_steps(n: int, seed: int = 0, k: int = 10) -> list[TokenStep]:
    rng = random.Random(seed)
    weights = [1 / (r + 1) ** 1.1 for r in range(VOCAB)]
    order = list(range(VOCAB))
    rng.shuffle(order)  # which ids are common: arbitrary
    alphabet = "abcdefghijklmnopqrstuvwxyz ␣↵ABCDEé"
    labels = {}

    def label(token_id: int) -> str:
        if token_id not in labels:
            labels[token_id] = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        return labels[token_id]

    pool = rng.choices(order, weights=weights, k=n * k * 3)
    steps, at = [], 0
    for i in range(n):
        ids: list[int] = []
        while len(ids) < k:
            if pool[at] not in ids:
                ids.append(pool[at])
            at += 1
        raw = sorted((rng.lognormvariate(0, 1.5) for _ in range(k)), reverse=True)
        total = sum(raw) * rng.uniform(1.05, 3.0)  # the top-10 hold part of the mass
        ps = [f32(x / total) for x in raw]
        cut = rng.randint(1, k)
        mass = sum(ps[:cut])
        qs = [f32(p / mass) if j < cut else 0.0 for j, p in enumerate(ps)]
        cands = tuple(Candidate(t, label(t), p, q) for t, p, q in zip(ids, ps, qs, strict=True))
        rank = rng.randint(1, cut)
        chosen = cands[rank - 1]
        steps.append(
            TokenStep(
                index=i, token_id=chosen.token_id, label=chosen.text, text=chosen.text.replace("␣", " "),
                p=chosen.p, q=chosen.q, rank=rank, entropy=f32(rng.uniform(0.1, 5)), candidates=cands,
            )
        )  # fmt: skip
    return steps


def timed(action: Callable[[], object], rounds: int) -> float:
    """Median seconds over ``rounds`` runs."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def used_bytes(store: SessionStore) -> int:
    """The database's pages in use, with the WAL folded in (free pages are reused later)."""
    conn = store._conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages, free, size = (
        conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size")
    )
    return (pages - free) * size


def bench_save(folder: Path, steps: list[TokenStep], rounds: int) -> dict[str, float]:
    with SessionStore(folder / "save.db") as store:
        sid = store.create_session("default")
        text = [s.text for s in steps]
        append_times: list[float] = []

        def save_reply() -> None:
            store.add_message(sid, "user", "Write me a long story, please.")
            reply = store.start_reply(sid, settings={"temperature": 1.0})
            for i in range(0, len(steps) - CHUNK, CHUNK):
                start = time.perf_counter()
                store.append_reply(reply, "".join(text[: i + CHUNK]), steps[i : i + CHUNK])
                append_times.append(time.perf_counter() - start)
            done = (len(steps) - 1) // CHUNK * CHUNK
            store.finish_reply(reply, "".join(text), "complete", {"tokens": len(steps)}, steps[done:])

        save_reply()  # warm-up, and the size measurement below starts after one reply
        before = used_bytes(store)
        total = timed(save_reply, rounds)
        grown = (used_bytes(store) - before) / rounds
        blob = store._conn.execute(
            "SELECT sum(length(data)) FROM token_chunks WHERE message_id = (SELECT max(id) FROM messages)"
        ).fetchone()[0]
    return {
        "total": total,
        "append_median": statistics.median(append_times),
        "append_max": max(append_times),
        "db_bytes_per_token": grown / len(steps),
        "blob_bytes_per_token": blob / len(steps),
    }


def label_variants(steps: list[TokenStep]) -> dict[str, float]:
    """Bytes per token of the token blobs: a finished reply (one chunk), a reply still
    streaming (20-token chunks), and the label-storage alternatives that were not chosen."""
    n = len(steps)
    chunks = [steps[i : i + CHUNK] for i in range(0, n, CHUNK)]
    everything = {s.token_id: (s.label, s.kind) for s in steps}
    everything.update({c.token_id: (c.text, c.kind) for s in steps for c in s.candidates})
    per_reply: dict = {}
    return {
        "finished": len(encode_chunk(steps, {})) / n,
        "finished_global": len(encode_chunk(steps, dict(everything))) / n,  # labels stored elsewhere
        "streaming": sum(len(encode_chunk(c, per_reply)) for c in chunks) / n,
        "streaming_per_chunk": sum(len(encode_chunk(c, {})) for c in chunks) / n,
        "json": len(json.dumps([_step_json(s) for s in steps], separators=(",", ":")).encode()) / n,
    }


def _step_json(step: TokenStep) -> list:
    return [step.index, step.token_id, step.label, step.text, step.p, step.q, step.rank, step.entropy,
            [c.to_list() for c in step.candidates]]  # fmt: skip


def bench_open(folder: Path, messages: int, last_reply: list[TokenStep], rounds: int) -> dict[str, float]:
    path = folder / "open.db"
    with SessionStore(path) as store:
        drafts = []
        for i in range(messages):
            role = "user" if i % 2 == 0 else "assistant"
            steps = last_reply if i == messages - 1 else ()
            content = f"message {i}: " + "lorem ipsum dolor sit amet " * (3 if role == "user" else 30)
            drafts.append(MessageDraft(i, i - 1 if i else None, role, content, steps=steps))
        sid = store.add_session(title="long chat", model="default", messages=drafts)

    def open_session() -> None:
        with SessionStore(path) as s:
            s.get_session(sid)
            shown = s.messages(sid)
            s.token_steps(shown[-1].id)

    with SessionStore(path) as s:
        leaf = s.messages(sid)[-1].id
        only_messages = timed(lambda: s.messages(sid), rounds)
        only_steps = timed(lambda: s.token_steps(leaf), rounds)
    connect = timed(lambda: SessionStore(path).close(), rounds)
    return {
        "total": timed(open_session, rounds),
        "connect": connect,
        "messages": only_messages,
        "token_steps": only_steps,
    }


def bench_list(folder: Path, sessions: int, rounds: int) -> dict[str, float]:
    path = folder / "list.db"
    with SessionStore(path) as store:
        start = time.perf_counter()
        store._conn.execute("BEGIN")  # bulk set-up in one transaction (not what is measured)
        now = time.time()
        for i in range(sessions):
            sid = store._conn.execute(
                "INSERT INTO sessions (title, model, created, updated) VALUES (?, 'default', ?, ?)",
                (f"session number {i}", now + i, now + i),
            ).lastrowid
            parent = None
            for j in range(6):
                parent = store._conn.execute(
                    "INSERT INTO messages (session_id, parent_id, role, content, created) VALUES (?, ?, ?, ?, ?)",
                    (sid, parent, "user" if j % 2 == 0 else "assistant",
                     f"turn {j} of chat {i} about topic{i % 500} and more words here", now + i),
                ).lastrowid  # fmt: skip
            store._conn.execute("UPDATE sessions SET active_leaf_id = ? WHERE id = ?", (parent, sid))
        store._conn.execute("COMMIT")
        setup = time.perf_counter() - start
        return {
            "setup": setup,
            "first_page": timed(lambda: store.list_sessions(limit=50), rounds),
            "count": timed(lambda: store.count_sessions(), rounds),
            "last_page": timed(lambda: store.list_sessions(limit=50, offset=sessions - 50), rounds),
            "search_page": timed(lambda: store.list_sessions(search="topic42", limit=50), rounds),
            "search_count": timed(lambda: store.count_sessions("topic42"), rounds),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    steps = synthetic_steps(args.tokens)
    ms = lambda seconds: f"{seconds * 1000:8.1f} ms"  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        save = bench_save(folder, steps, args.rounds)
        print(f"save a {args.tokens}-token reply, top-10 records ({args.tokens // CHUNK} appends + finish)")
        print(f"  total                      {ms(save['total'])}")
        print(
            f"  one append_reply (median)  {ms(save['append_median'])}   max {ms(save['append_max']).strip()}"
        )
        sizes = label_variants(steps)
        finished = sizes["finished"]
        print("bytes stored per token")
        print(
            f"  database growth            {save['db_bytes_per_token']:8.1f}   (pages in use: records, text, FTS, slack)"
        )
        print(
            f"  token records, finished    {save['blob_bytes_per_token']:8.1f}   (one chunk per reply, labels in it)"
        )
        print(
            f"  labels in a global table   {sizes['finished_global']:8.1f}   "
            f"({sizes['finished_global'] / finished:.2f}x; a floor: the table itself not counted)"
        )
        print(
            f"  while streaming            {sizes['streaming']:8.1f}   "
            f"({sizes['streaming'] / finished:.2f}x; 20-token chunks, each label defined once per reply)"
        )
        print(
            f"  ... labels in every chunk  {sizes['streaming_per_chunk']:8.1f}   ({sizes['streaming_per_chunk'] / finished:.2f}x)"
        )
        print(f"  plain JSON, for scale      {sizes['json']:8.1f}   ({sizes['json'] / finished:.1f}x)")
        opened = bench_open(folder, args.messages, steps, args.rounds)
        print(f"open a session of {args.messages} messages (last reply {args.tokens} tokens)")
        print(f"  total                      {ms(opened['total'])}")
        print(f"  connect + checks           {ms(opened['connect'])}")
        print(f"  messages (active branch)   {ms(opened['messages'])}")
        print(f"  token_steps (last reply)   {ms(opened['token_steps'])}")
        listed = bench_list(folder, args.sessions, args.rounds)
        print(f"list {args.sessions} sessions (6 messages each; set-up {listed['setup']:.1f} s, not timed)")
        print(f"  first page of 50           {ms(listed['first_page'])}")
        print(f"  count                      {ms(listed['count'])}")
        print(f"  last page of 50            {ms(listed['last_page'])}")
        print(f"  search, first page         {ms(listed['search_page'])}")
        print(f"  search, count              {ms(listed['search_count'])}")


if __name__ == "__main__":
    main()
