"""Tokens reaching the screen against the headless engine; UI stalls; time to first frame.

In one process, on the same loaded model, prompt and settings:

1. Decode speed. Each round runs the headless engine (``Generation`` on the engine thread,
   top-10 capture) and a reply through the running app, alternating which goes first. The
   app's figure is tokens *on screen*: a hook on the reply widget's ``render_line`` notes the
   time of each frame and how many tokens that frame shows; the rate is tokens shown between
   the first and the last streaming frame over the time between them. EOS is switched off
   (a copy of the loaded model with no end tokens) so every run is exactly ``--tokens`` long.
2. UI event-loop stalls. A task on the app's own event loop sleeps 5 ms at a time and notes
   how late it wakes: the longest lateness is the longest time the UI could not answer a key.
   Measured while a ``--save-tokens`` (2,000) token reply streams, and while the app finishes
   it (the reply rendered as Markdown, the session writer thread saving its token records),
   up to the moment the writer has written everything.
3. Time to first frame of the real ``workbench`` in tmux.

The app runs headless (Textual's test driver: every update is laid out and rendered into a
frame, but the frame's bytes are not written to a terminal), with session saving on into a
scratch database, as a user runs it.

    python bench/ui.py [--tokens 128] [--rounds 6] [--save-tokens 2000] [--skip-first-frame]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Write a long story about a dragon who learns to read."
STALL_PERIOD = 0.005  # the stall watcher's sleep
STALL_LIMIT_MS = 50.0


class FrameLog:
    """When each frame showing the streaming reply was rendered, and how many tokens it showed.

    Wraps ``StreamingText.render_line`` (the widget a plain streaming reply is drawn with): it
    is called while the compositor renders a frame, for the rows that changed. At that moment
    the widget holds exactly the reply's ``turn.steps`` (the drain appends both in one
    callback on the UI thread), so the count is what that frame shows.
    """

    def __init__(self, app: Any) -> None:
        from workbench.ui.widgets.streaming_text import StreamingText

        self.frames: list[tuple[float, int]] = []
        original = StreamingText.render_line
        log = self

        def render_line(widget: Any, y: int) -> Any:
            reply = app.reply
            if reply is not None:
                shown = len(reply.turn.steps)
                if not log.frames or log.frames[-1][1] != shown:
                    log.frames.append((time.perf_counter(), shown))
            return original(widget, y)

        StreamingText.render_line = render_line  # type: ignore[method-assign]

    def reset(self) -> None:
        self.frames = []

    def rate(self) -> tuple[float, int, int]:
        """Tokens/s between the first and last streaming frame; tokens in the last frame; frames."""
        (t0, n0), (t1, n1) = self.frames[0], self.frames[-1]
        return (n1 - n0) / (t1 - t0), n1, len(self.frames)


class StallWatch:
    """A task on the UI event loop that notes how late each 5 ms sleep wakes up.

    It also notes the UI thread's own CPU time during each sleep (``time.thread_time``; the
    watcher runs on that thread): a stall with little CPU in it is the OS not scheduling the
    UI thread (a loaded machine), one with its full length in CPU is the UI's own work.
    """

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (wake time, lateness, UI CPU), s
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(STALL_PERIOD)
            now = time.perf_counter()
            self.samples.append((now, now - start - STALL_PERIOD, time.thread_time() - cpu))

    def start(self) -> None:
        self.samples = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def worst(self, start: float, end: float, n: int = 3) -> list[tuple[float, float, float]]:
        """The ``n`` longest stalls that ended in [start, end]: (ms, UI CPU ms, seconds after start)."""
        inside = [
            (late * 1000, cpu * 1000, at - start) for at, late, cpu in self.samples if start <= at <= end
        ]
        return sorted(inside, reverse=True)[:n]

    def busiest(self, start: float, end: float) -> float:
        """The most UI-thread CPU time (ms) spent in one gap between the watcher's wake-ups."""
        return max((cpu * 1000 for at, _, cpu in self.samples if start <= at <= end), default=0.0)


def describe(stalls: list[tuple[float, float, float]]) -> str:
    return ", ".join(f"{ms:.1f} ms ({cpu:.1f} ms CPU) at {at:.2f} s" for ms, cpu, at in stalls)


def progress(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def engine_rate(loaded: Any, settings: Any, top_k: int) -> tuple[float, int]:
    from workbench.engine.decoding import Decoder, Generation
    from workbench.engine.prompts import chat_prompt
    from workbench.engine.sampling import Sampler

    prompt = chat_prompt(loaded.tokenizer, [{"role": "user", "content": PROMPT}])
    generation = Generation(Decoder(loaded, prompt.ids), Sampler(settings), top_k=top_k)
    steps = list(generation)
    return generation.tokens_per_second, len(steps)


async def start_reply(app: Any) -> Any:
    """A new chat and a fresh prefill (as the headless run does), then send the prompt."""
    from workbench.engine import runner

    app.action_new_chat()
    await asyncio.to_thread(runner.run, app.decoders.drop)  # the engine thread owns the decoder
    await asyncio.sleep(0.2)
    app.send(PROMPT)
    while app.reply is None:
        await asyncio.sleep(0.01)
    return app.reply


async def app_rate(app: Any, frames: FrameLog) -> tuple[float, int, float, int]:
    """A reply through the app: (tokens/s on screen, tokens shown, engine's own rate, frames)."""
    frames.reset()
    reply = await start_reply(app)
    # asyncio.sleep, not pilot.pause: Pilot's pause posts a callback to every widget and
    # waits for each, which would load the UI thread far more than a user does.
    while app.reply is not None:
        await asyncio.sleep(0.05)
    on_screen, shown, count = frames.rate()
    return on_screen, shown, reply.turn.stats["tokens_per_second"], count


async def measure(tokens: int, rounds: int, save_tokens: int, debug_stalls: bool = False) -> None:
    if debug_stalls:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = STALL_LIMIT_MS / 1000
    from workbench.config import Config, UiSettings
    from workbench.engine import runner
    from workbench.engine.loading import load_model
    from workbench.engine.settings import LoadSettings, SamplingSettings
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.messages import ModelLoaded

    # All torch work on the engine thread, as in the app (see workbench/engine/runner.py):
    # the headless runs below go there too, so both sides use the same thread and pool.
    loaded = runner.run(load_model, LoadSettings())
    loaded = dataclasses.replace(loaded, eos_token_ids=frozenset())  # every reply runs its full length
    settings = SamplingSettings(do_sample=False, max_new_tokens=tokens)
    config = Config(model=LoadSettings(), sampling=settings, ui=UiSettings(top_k_shown=10))
    app = WorkbenchApp(config, autoload=False, save_settings=False)
    frames = FrameLog(app)
    watch = StallWatch()
    engine_rates: list[float] = []
    screen_rates: list[float] = []
    inner_rates: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ModelLoaded(loaded))
        while app.loaded is None:
            await pilot.pause(0.05)
        await asyncio.sleep(2)  # let start-up work finish (the tokenizer pane indexes the vocabulary)
        runner.run(engine_rate, loaded, settings.updated(max_new_tokens=8), 10)  # warm-up
        for n in range(rounds):
            for side in ("engine", "app") if n % 2 == 0 else ("app", "engine"):
                if side == "engine":
                    rate, count = await asyncio.to_thread(runner.run, engine_rate, loaded, settings, 10)
                    engine_rates.append(rate)
                    progress(f"round {n + 1}: headless {rate:.1f} tokens/s ({count} tokens)")
                else:
                    rate, shown, inner, frame_count = await app_rate(app, frames)
                    screen_rates.append(rate)
                    inner_rates.append(inner)
                    progress(f"round {n + 1}: on screen {rate:.1f} tokens/s ({shown} tokens shown)")
        paired = [s / e for s, e in zip(screen_rates, engine_rates, strict=True)]

        # UI stalls while a long reply streams and while the app finishes and saves it
        app.sampling = settings.updated(max_new_tokens=save_tokens)
        frames.reset()
        watch.start()
        reply = await start_reply(app)
        while not reply.done.is_set():
            await asyncio.sleep(0.05)
        engine_done = time.perf_counter()
        while app.reply is not None:
            await asyncio.sleep(0.01)
        flushed = await asyncio.to_thread(app.sync.flush)
        saved = time.perf_counter()
        await asyncio.sleep(0.3)  # a few more frames after the save
        watch.stop()
        stream_start = frames.frames[0][0]
        streamed = watch.worst(stream_start, engine_done)
        saving = watch.worst(engine_done, saved + 0.3)
        long_tokens = len(reply.turn.steps)
        error = app.sync.take_error()

    print(
        f"model {loaded.source.display_name}, {loaded.dtype_name} on {loaded.plan.label}; greedy, top-10 chart"
    )
    print(f"decode, {rounds} rounds alternating which runs first, {tokens} tokens each (EOS off):")
    print(f"  headless engine      {statistics.median(engine_rates):6.1f} tokens/s  ({count} tokens)")
    print(
        f"  on screen (frames)   {statistics.median(screen_rates):6.1f} tokens/s  "
        f"({shown} tokens shown while streaming, {frame_count} frames in the last round)"
    )
    print(
        f"  engine thread in app {statistics.median(inner_rates):6.1f} tokens/s  (its own count, for scale)"
    )
    print(
        f"  ratio on screen / headless {statistics.median(paired):.3f} (median of paired rounds; "
        f"rounds {[round(r, 3) for r in paired]})"
    )
    print(
        f"UI event-loop stalls (a {STALL_PERIOD * 1000:.0f} ms timer's lateness), reply of {long_tokens} tokens:"
    )
    print(
        f"  while streaming         longest {streamed[0][0]:6.1f} ms; UI thread's own work at most "
        f"{watch.busiest(stream_start, engine_done):.1f} ms in one gap"
    )
    print(f"    top 3 (stall, UI CPU in it, when): {describe(streamed)}")
    print(
        f"  while finishing/saving  longest {saving[0][0]:6.1f} ms; UI thread's own work at most "
        f"{watch.busiest(engine_done, saved + 0.3):.1f} ms in one gap "
        f"(writer done {saved - engine_done:.2f} s after the last token{'' if flushed else ', NOT flushed'})"
    )
    print(f"    top 3 (stall, UI CPU in it, when): {describe(saving)}")
    if error:
        print(f"  session write error: {error}")
    worst = max(streamed[0][0], saving[0][0])
    print(f"  limit {STALL_LIMIT_MS:.0f} ms: {'met' if worst < STALL_LIMIT_MS else 'EXCEEDED'}")
    print(f"  (load average when it ended: {', '.join(f'{x:.2f}' for x in os.getloadavg())})")


def first_frame(runs: int = 3) -> None:
    """Start `workbench` in tmux and time until its first frame is drawn (and whether torch was in)."""
    from tests.e2e.tmux import TmuxApp, read_marker

    if shutil.which("tmux") is None:
        print("first frame: tmux is not installed; skipped")
        return
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            marker = Path(scratch) / "first-frame.json"
            started = time.time()
            app = TmuxApp([], 120, 40, env={"WORKBENCH_FIRST_FRAME_FILE": str(marker)})
            try:
                data = read_marker(marker)
                times.append(data["time"] - started)
                torch_before = data["torch_imported"]
            finally:
                app.close()
    print(
        f"first frame: {statistics.median(times):.2f} s after launch (runs {[round(t, 2) for t in times]}); "
        f"torch imported before it: {torch_before}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--save-tokens", type=int, default=2000)
    parser.add_argument("--skip-first-frame", action="store_true")
    parser.add_argument(
        "--debug-stalls",
        action="store_true",
        help="asyncio debug mode: log every UI callback that ran longer than 50 ms, naming it",
    )
    args = parser.parse_args()
    if args.debug_stalls:
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    from bench.scratch import scratch_home

    with scratch_home():
        if not args.skip_first_frame:
            first_frame()
        asyncio.run(measure(args.tokens, args.rounds, args.save_tokens, args.debug_stalls))


if __name__ == "__main__":
    main()
