"""Decode speed through the running app against the headless engine, and time to first frame.

Both run in one process on the same loaded model, prompt and settings, alternating rounds,
on the same engine thread.
The app runs headless (Textual's test driver, which still lays out and renders every
update) with session saving on, as a user runs it.

    python bench/ui.py [--tokens 128] [--rounds 3] [--skip-first-frame]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Write a long story about a dragon who learns to read."


def engine_rate(loaded, settings, top_k: int) -> tuple[float, int]:
    from workbench.engine.decoding import Decoder, Generation
    from workbench.engine.prompts import chat_prompt
    from workbench.engine.sampling import Sampler

    prompt = chat_prompt(loaded.tokenizer, [{"role": "user", "content": PROMPT}])
    generation = Generation(Decoder(loaded, prompt.ids), Sampler(settings), top_k=top_k)
    steps = list(generation)
    return generation.tokens_per_second, len(steps)


async def app_rate(app, pilot) -> tuple[float, int]:
    app.action_new_chat()
    app._decoder = None  # a fresh prefill, like the headless run
    await pilot.pause()
    app.send(PROMPT)
    # asyncio.sleep, not pilot.pause: Pilot's pause posts a callback to every widget and
    # waits for each, which would load the UI thread far more than a user does.
    while app.generating or app.conversation.last("assistant") is None:
        await asyncio.sleep(0.1)
    reply = app.conversation.last("assistant")
    return reply.stats["tokens_per_second"], reply.stats["tokens"]


async def compare(tokens: int, rounds: int) -> None:
    from workbench.config import Config, UiSettings
    from workbench.engine import runner
    from workbench.engine.loading import load_model
    from workbench.engine.settings import LoadSettings, SamplingSettings
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.messages import ModelLoaded

    # All torch work on the engine thread, as in the app (see workbench/engine/runner.py):
    # the headless runs below go there too, so both sides use the same thread and pool.
    loaded = runner.run(load_model, LoadSettings())
    settings = SamplingSettings(do_sample=False, max_new_tokens=tokens)
    config = Config(model=LoadSettings(), sampling=settings, ui=UiSettings(top_k_shown=10))
    app = WorkbenchApp(config, autoload=False, save_settings=False)
    engine_rates, app_rates = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ModelLoaded(loaded))
        while app.loaded is None:
            await pilot.pause(0.05)
        await asyncio.sleep(2)  # let start-up work finish (the tokenizer pane indexes the vocabulary)
        runner.run(engine_rate, loaded, settings.updated(max_new_tokens=8), 10)  # warm-up
        for _ in range(rounds):
            rate, count = runner.run(engine_rate, loaded, settings, 10)
            engine_rates.append(rate)
            rate, app_count = await app_rate(app, pilot)
            app_rates.append(rate)
        engine, ui = statistics.median(engine_rates), statistics.median(app_rates)
        # each round's app run is paired with the engine run just before it: the median of the
        # paired ratios cancels the machine's drift between rounds
        paired = statistics.median(a / e for a, e in zip(app_rates, engine_rates, strict=True))
    print(
        f"model {loaded.source.display_name}, {loaded.dtype_name} on {loaded.plan.label}; greedy, top-10 chart"
    )
    print(
        f"  headless engine   {engine:6.1f} tokens/s  ({count} tokens, rounds {[round(r, 1) for r in engine_rates]})"
    )
    print(
        f"  through the app   {ui:6.1f} tokens/s  ({app_count} tokens, rounds {[round(r, 1) for r in app_rates]})"
    )
    print(f"  ratio app / engine {paired:.3f} (median of paired rounds; ratio of medians {ui / engine:.3f})")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--skip-first-frame", action="store_true")
    args = parser.parse_args()
    from bench.scratch import scratch_home

    with scratch_home():
        if not args.skip_first_frame:
            first_frame()
        asyncio.run(compare(args.tokens, args.rounds))


if __name__ == "__main__":
    main()
