"""Decode throughput of the engine against model.generate, and cold vs cached load time.

Same model, prompt and settings in one run. Each round runs every variant once; the order
rotates from round to round (and reverses every other round), so that neither warm caches
nor drift in machine speed favour one variant. Prints the median tokens/s, each variant's
token count, and the median of the per-round ratios to ``model.generate``.

Load times: the first load (GGUF de-quantised into an empty cache) and the second load (from
that cache) each run in a new Python process, as a user's next launch would: a second load
in the same process would find the files in the page cache and torch already imported.

    python bench/decode.py [--model default] [--dtype auto] [--tokens 128] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from workbench.engine.decoding import Decoder, Generation
from workbench.engine.loading import load_model
from workbench.engine.prompts import completion_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import LoadSettings, SamplingSettings

PROMPT = "Once upon a time, in a small village by the sea, there lived"


def time_generate(loaded, ids, settings: SamplingSettings) -> tuple[float, int]:
    kwargs = (
        {"do_sample": False}
        if settings.greedy
        else {
            "do_sample": True,
            "temperature": settings.temperature,
            "top_k": settings.top_k,
            "top_p": settings.top_p,
            "min_p": settings.min_p or None,
        }
    )
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    inputs = torch.tensor([ids], device=loaded.input_device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(inputs, max_new_tokens=settings.max_new_tokens, **kwargs)
    elapsed = time.perf_counter() - start
    return elapsed, out.shape[1] - len(ids)


def time_engine(loaded, ids, settings: SamplingSettings, top_k: int) -> tuple[float, int]:
    generation = Generation(Decoder(loaded, ids), Sampler(settings), top_k=top_k)
    start = time.perf_counter()
    count = sum(1 for _ in generation)
    return time.perf_counter() - start, count


def load_once(args) -> dict:
    """One load in this process (the child side of :func:`load_times`)."""
    settings = LoadSettings(model=args.model, device=args.device, dtype=args.dtype)
    start = time.perf_counter()
    loaded = load_model(settings)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "from_cache": loaded.from_cache, "gguf": loaded.source.gguf_file is not None}


def load_times(args) -> tuple[float, float]:
    """First load (GGUF de-quantised, empty cache) and second load (from the cache), each in a
    new process; the interpreter start and imports are not counted, the load is."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "WORKBENCH_HOME": home}
        command = [sys.executable, __file__, "--load-once", "--model", args.model]
        command += ["--device", args.device, "--dtype", args.dtype]
        runs = []
        for _ in range(2):
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    first, second = runs
    assert second["from_cache"] or not second["gguf"], second
    return first["seconds"], second["seconds"]


def round_orders(names: list[str], rounds: int) -> list[list[str]]:
    """Round r runs the variants rotated by r, reversed in odd rounds: each goes first in turn."""
    orders = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        orders.append(order[::-1] if r % 2 else order)
    return orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/cached load timing")
    parser.add_argument("--load-once", action="store_true", help=argparse.SUPPRESS)  # load_times' child
    args = parser.parse_args()
    if args.load_once:
        print(json.dumps(load_once(args)))
        return

    if not args.skip_load:
        first, second = load_times(args)
        print(
            f"load, each in a new process: first (de-quantise GGUF) {first:.2f} s, "
            f"second (cached) {second:.2f} s, speed-up {first / second:.1f}x"
        )

    loaded = load_model(LoadSettings(model=args.model, device=args.device, dtype=args.dtype))
    ids = list(completion_prompt(loaded.tokenizer, PROMPT).ids)
    print(
        f"model {loaded.source.display_name} on {loaded.plan.label}, {loaded.dtype_name}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"prompt {len(ids)} tokens, up to {args.tokens} new tokens, {args.rounds} rounds "
        "(median; the order of the variants changes every round)"
    )

    modes = {
        "greedy": SamplingSettings(do_sample=False, max_new_tokens=args.tokens),
        "sampled": SamplingSettings(
            temperature=0.8, top_k=50, top_p=0.95, seed=1234, max_new_tokens=args.tokens
        ),
    }
    variants = {
        "model.generate": lambda s: time_generate(loaded, ids, s),
        "engine, no top-k": lambda s: time_engine(loaded, ids, s, top_k=0),
        "engine, top-10 capture": lambda s: time_engine(loaded, ids, s, top_k=10),
    }
    for mode, settings in modes.items():
        for run in variants.values():  # warm-up
            run(settings.updated(max_new_tokens=8))
        rates: dict[str, list[float]] = {name: [] for name in variants}
        counts: dict[str, set[int]] = {name: set() for name in variants}
        ratios: dict[str, list[float]] = {name: [] for name in variants}
        for order in round_orders(list(variants), args.rounds):
            this_round = {}
            for name in order:
                elapsed, count = variants[name](settings)
                this_round[name] = count / elapsed
                counts[name].add(count)
            for name, rate in this_round.items():
                rates[name].append(rate)
                ratios[name].append(rate / this_round["model.generate"])
        print(f"\n{mode}:")
        for name in variants:
            rate = statistics.median(rates[name])
            tokens = "/".join(str(c) for c in sorted(counts[name]))
            print(
                f"  {name:<24} {rate:7.1f} tokens/s  ({tokens} tokens)  "
                f"ratio to generate {statistics.median(ratios[name]):.3f} "
                f"(rounds {min(rates[name]):.1f}-{max(rates[name]):.1f} tokens/s)"
            )


if __name__ == "__main__":
    main()
