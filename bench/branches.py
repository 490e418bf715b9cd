"""Moving between branches and re-weighting a paused distribution, on the default model.

Prints, measured side by side in one run:
- re-weighting a paused distribution under new sampling settings (no forward pass) against
  computing it afresh with a forward pass over the whole sequence;
- switching the decoder to another branch that shares a prefix (KV cache reused) against a
  fresh prefill of the same sequence, for a one-token switch (siblings that differ in their
  last token) and a long one (branches that part at reply token 16 of 64), reported apart;
- switching branches in the running app (the [ key) until the screen shows the other branch.

    python bench/branches.py [--reply-tokens 64] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def engine_numbers(loaded, reply_tokens: int, repeat: int) -> None:
    from workbench.engine.decoding import Decoder, Generation
    from workbench.engine.prompts import chat_prompt
    from workbench.engine.sampling import Sampler
    from workbench.engine.settings import SamplingSettings

    prompt = chat_prompt(
        loaded.tokenizer, [{"role": "user", "content": "Write a story about a lighthouse keeper."}]
    )
    decoder = Decoder(loaded, prompt.ids)
    greedy = Sampler(SamplingSettings(do_sample=False, max_new_tokens=reply_tokens))
    steps = list(
        Generation(
            decoder,
            greedy,
            chooser=lambda d: (next(c.token_id for c in d.candidates if c.token_id != 2), "sample"),
        )
    )
    reply = [s.token_id for s in steps]
    sequence = list(prompt.ids) + reply
    print(
        f"sequence: {len(prompt.ids)} prompt + {len(reply)} reply tokens; {loaded.dtype_name} on {loaded.plan.label}"
    )

    # 1. re-weight a paused distribution vs a fresh forward pass
    dist = decoder.distribution(Sampler(SamplingSettings()), 10)
    settings = [
        SamplingSettings(temperature=t, top_k=k, top_p=0.9) for t, k in ((0.3, 10), (1.5, 0), (0.8, 40))
    ]
    reweight, fresh = [], []
    for n in range(repeat):
        start = time.perf_counter()
        dist.reweighted(settings[n % 3])
        reweight.append(time.perf_counter() - start)
        start = time.perf_counter()
        Decoder(loaded, sequence).distribution(Sampler(settings[n % 3]), 10)
        fresh.append(time.perf_counter() - start)
    print(
        f"re-weight a paused distribution: {median_ms(reweight):7.2f} ms  "
        f"(fresh forward pass over the sequence {median_ms(fresh):7.1f} ms, {median_ms(fresh) / median_ms(reweight):.0f}x)"
    )

    # 2. switch branches in the decoder vs a fresh prefill of the same sequence, for two kinds
    # of switch measured apart: siblings that differ in the last token only (one token to
    # recompute, what picking another candidate for the newest token costs) and branches that
    # part at reply token 16 (the KV cache is cropped there and the rest recomputed)
    alt_last = next(c.token_id for c in dist.candidates if c.token_id != sequence[-1])
    part_at = min(16, len(reply) - 1)
    alt_part = next(c.token_id for c in dist.candidates if c.token_id != reply[part_at])
    short = list(prompt.ids) + reply[:part_at] + [alt_part]
    cases = {
        "one token (last token differs)": (sequence[:-1] + [alt_last], sequence),
        f"long ({len(sequence) - len(prompt.ids) - part_at} tokens recomputed)": (short, sequence),
    }
    for label, (other, target) in cases.items():
        switch, prefill = [], []
        for _ in range(repeat):
            decoder.reset_to(other)  # not timed: where the switch starts from
            decoder.distribution(greedy, 10)
            start = time.perf_counter()
            decoder.reset_to(target)
            decoder.distribution(greedy, 10)
            switch.append(time.perf_counter() - start)
            start = time.perf_counter()
            Decoder(loaded, target).distribution(greedy, 10)
            prefill.append(time.perf_counter() - start)
        print(
            f"switch branch in the decoder, {label}: {median_ms(switch):7.1f} ms  "
            f"(fresh prefill of the {len(target)} tokens {median_ms(prefill):7.1f} ms, "
            f"{median_ms(prefill) / median_ms(switch):.1f}x faster; {repeat} runs, median)"
        )


async def app_numbers(loaded, repeat: int) -> None:
    from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
    from workbench.ui.app import WorkbenchApp

    app = WorkbenchApp(greedy_config(max_new_tokens=32), autoload=False, save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_with_model(app, pilot, loaded)
        await send(app, pilot, "Write a story about a lighthouse keeper.")
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: not app.generating and app.conversation.sibling_position(app.conversation.leaf)[1] == 2,
        )
        app.conversation_view.focus()
        await pilot.pause()
        times = []
        for n in range(repeat):
            target_key, target_pos = ("left_square_bracket", 1) if n % 2 == 0 else ("right_square_bracket", 2)
            start = time.perf_counter()
            await pilot.press(target_key)
            await wait_until(
                pilot, lambda p=target_pos: app.conversation.sibling_position(app.conversation.leaf)[0] == p
            )
            await pilot.pause()  # until the screen has been refreshed
            times.append(time.perf_counter() - start)
    print(
        f"switch branch in the app ([ / ]): {median_ms(times):7.1f} ms to the refreshed screen (Pilot key press included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from bench.scratch import scratch_home
    from workbench.engine.loading import load_model

    with scratch_home():
        loaded = load_model()
        engine_numbers(loaded, args.reply_tokens, args.repeat)
        asyncio.run(app_numbers(loaded, max(4, args.repeat // 2)))


if __name__ == "__main__":
    main()
