"""UI event-loop stalls for a recorded-like reply replayed through the app: quick, repeatable.

``bench/ui.py`` measures stalls on a real 2,000-token reply, which takes minutes on a loaded
2-core machine and differs run to run. This script replays the same synthetic reply every time
(2,000 token steps of a multi-paragraph text, fixed seed) through the running app in place of
the engine: the Reply's engine-thread body is swapped for one that appends a step every
``1/--rate`` s after 3 ms of pure Python (the engine's own Python between torch calls, which
competes for the GIL). Everything on the UI side is the app's own: the drain timer, the
StreamingText, the conversation following, the chart, the Markdown at the end, the writer.

It prints the longest stalls (a 5 ms timer's lateness on the app's loop, with the UI thread's
CPU time in each gap: under load, a long stall with little CPU is the OS, not the UI) while the
reply streams and while it is finished. ``--profile MS`` also prints a cProfile (UI-thread CPU
time) of each event-loop callback that took more than MS ms of it, slowest first. Run it on two
checkouts, alternating, to compare a change.

    python bench/stall_replay.py [--rate 80] [--tokens 2000] [--repeat 1] [--profile 20]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ui import StallWatch, describe, start_reply  # noqa: E402

WORDS = [
    "once",
    "upon",
    "a",
    "time",
    "there",
    "was",
    "a",
    "dragon",
    "named",
    "Ember",
    "who",
    "lived",
    "in",
    "the",
    "mountains",
    "and",
    "wanted",
    "to",
    "learn",
    "how",
    "to",
    "read",
    "the",
    "old",
    "books",
    "of",
    "the",
    "village",
    "library",
    "with",
    "help",
    "from",
    "a",
    "kind",
    "girl",
]


def synthetic_steps(count: int) -> list[Any]:
    """``count`` token steps (2-6 characters each) of paragraphs of 30-90 words, top-10 each."""
    from workbench.engine.steps import Candidate, TokenStep

    rng = random.Random(1)
    paragraphs: list[str] = []
    while sum(len(p) for p in paragraphs) < count * 4.5:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90)))
        paragraphs.append(words.capitalize() + ".")
    text = "\n\n".join(paragraphs)
    pieces, at = [], 0
    while at < len(text) and len(pieces) < count:
        size = rng.randint(2, 6)
        pieces.append(text[at : at + size])
        at += size
    return [
        TokenStep(
            i,
            1000,
            piece,
            piece,
            0.5,
            0.5,
            1,
            1.2,
            tuple(
                Candidate(1000 + j, piece if j == 0 else f"x{j}", 0.5 / (j + 1), 0.5 / (j + 1))
                for j in range(10)
            ),
            "greedy",
        )
        for i, piece in enumerate(pieces)
    ]


def replay_engine(steps: list[Any], rate: float) -> None:
    """Swap Reply's engine-thread body for a replay of ``steps`` at ``rate`` steps a second."""
    from workbench.ui import reply as reply_module
    from workbench.ui.messages import GenerationEnded, ReplyPrompted

    def run(self: Any) -> None:
        self._post(ReplyPrompted(self.turn.id, 40, 8192, None))
        start = time.perf_counter()
        for i, step in enumerate(steps):
            if self.cancel.is_set():
                break
            busy_until = time.perf_counter() + 0.003
            while time.perf_counter() < busy_until:
                pass
            time.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
            self.pending.append(step)
        text = "".join(s.text for s in steps)
        elapsed = time.perf_counter() - start
        stats = {
            "tokens": len(steps),
            "tokens_per_second": len(steps) / elapsed,
            "finish_reason": "length",
            "context_used": 40 + len(steps),
            "seconds": elapsed,
        }
        self.result = reply_module.ReplyResult(text, "length", stats)
        self.done.set()
        self._post(GenerationEnded(self.turn.id, text, "length", stats, None))

    reply_module.Reply._run = run  # type: ignore[method-assign]


class CallbackProfiler:
    """Profiles every event-loop callback on UI-thread CPU time; keeps those over a limit."""

    def __init__(self, limit_ms: float) -> None:
        self.limit = limit_ms / 1000
        self.phase = "start"
        self.kept: list[tuple[float, str, str, cProfile.Profile]] = []
        import asyncio.events as events

        original = events.Handle._run
        profiler = self

        def run(handle: Any) -> None:
            prof = cProfile.Profile(time.thread_time)
            start = time.thread_time()
            prof.enable()
            try:
                original(handle)
            finally:
                prof.disable()
                spent = time.thread_time() - start
                if spent > profiler.limit and profiler.phase != "start":  # not the app's start-up
                    label = repr(getattr(handle._callback, "__self__", handle._callback))[:110]
                    profiler.kept.append((spent * 1000, profiler.phase, label, prof))

        events.Handle._run = run  # type: ignore[method-assign]

    def report(self, top: int = 8, lines: int = 30) -> None:
        for ms, phase, label, prof in sorted(self.kept, key=lambda k: -k[0])[:top]:
            print(f"\n== {ms:.1f} ms of UI CPU, {phase}: {label}")
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(lines)
            print("\n".join(out.getvalue().splitlines()[6:]))


async def measure(args: argparse.Namespace, profiler: CallbackProfiler | None) -> None:
    from workbench.config import Config, UiSettings
    from workbench.engine import runner
    from workbench.engine.loading import load_model
    from workbench.engine.settings import LoadSettings, SamplingSettings
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.messages import ModelLoaded

    loaded = runner.run(load_model, LoadSettings())  # the app needs a model; the replay decodes nothing
    loaded = dataclasses.replace(loaded, eos_token_ids=frozenset())
    settings = SamplingSettings(do_sample=False, max_new_tokens=args.tokens)
    config = Config(model=LoadSettings(), sampling=settings, ui=UiSettings(top_k_shown=10))
    app = WorkbenchApp(config, autoload=False, save_settings=False)
    watch = StallWatch()
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ModelLoaded(loaded))
        while app.loaded is None:
            await pilot.pause(0.05)
        await asyncio.sleep(2)  # start-up work (the tokenizer pane indexes the vocabulary)
        for n in range(args.repeat):
            watch.start()
            if profiler:
                profiler.phase = "first frames"
            reply = await start_reply(app)
            started = time.perf_counter()
            while not reply.done.is_set():
                if profiler and time.perf_counter() - started > 2:
                    profiler.phase = "streaming"
                await asyncio.sleep(0.05)
            ended = time.perf_counter()
            if profiler:
                profiler.phase = "finishing"
            while app.reply is not None:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(app.sync.flush)
            saved = time.perf_counter()
            await asyncio.sleep(0.5)
            watch.stop()
            if profiler:
                profiler.phase = "idle"
            print(f"run {n + 1}: {len(reply.turn.steps)} tokens in {ended - started:.1f} s")
            print(f"  streaming: {describe(watch.worst(started, ended))}")
            print(f"  finishing: {describe(watch.worst(ended, saved + 0.5))}")
    import os

    print(f"(load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=80.0, help="steps a second")
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", type=float, default=0.0, metavar="MS")
    args = parser.parse_args()
    from bench.scratch import scratch_home

    replay_engine(synthetic_steps(args.tokens), args.rate)
    profiler = CallbackProfiler(args.profile) if args.profile else None
    with scratch_home():
        asyncio.run(measure(args, profiler))
    if profiler:
        profiler.report()


if __name__ == "__main__":
    main()
