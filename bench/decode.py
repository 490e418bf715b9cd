"""Decode throughput of the engine against model.generate, and cold vs cached load time.

Same model, prompt and settings in one run; the runs alternate so that drift in machine
speed hits every variant alike. Prints tokens/s and each ratio to ``model.generate``.

    python bench/decode.py [--model default] [--dtype auto] [--tokens 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def load_times(args) -> tuple[float, float]:
    """First load (GGUF de-quantised, empty cache) and second load (from the cache)."""
    with tempfile.TemporaryDirectory() as home:
        previous = os.environ.get("WORKBENCH_HOME")
        os.environ["WORKBENCH_HOME"] = home
        try:
            settings = LoadSettings(model=args.model, device=args.device, dtype=args.dtype)
            start = time.perf_counter()
            load_model(settings).release()
            first = time.perf_counter() - start
            start = time.perf_counter()
            second_model = load_model(settings)
            second = time.perf_counter() - start
            assert second_model.from_cache or second_model.source.gguf_file is None
        finally:
            if previous is None:
                os.environ.pop("WORKBENCH_HOME", None)
            else:
                os.environ["WORKBENCH_HOME"] = previous
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true", help="skip the cold/cached load timing")
    args = parser.parse_args()

    if not args.skip_load:
        first, second = load_times(args)
        print(
            f"load: first (de-quantise GGUF) {first:.2f} s, second (cached) {second:.2f} s, speed-up {first / second:.1f}x"
        )

    loaded = load_model(LoadSettings(model=args.model, device=args.device, dtype=args.dtype))
    ids = list(completion_prompt(loaded.tokenizer, PROMPT).ids)
    print(
        f"model {loaded.source.display_name} on {loaded.plan.label}, {loaded.dtype_name}, torch threads {torch.get_num_threads()}"
    )
    print(f"prompt {len(ids)} tokens, up to {args.tokens} new tokens, {args.rounds} rounds (median)")

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
        counts: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, run in variants.items():
                elapsed, count = run(settings)
                rates[name].append(count / elapsed)
                counts[name] = count
        base = statistics.median(rates["model.generate"])
        print(f"\n{mode}:")
        for name in variants:
            rate = statistics.median(rates[name])
            print(
                f"  {name:<24} {rate:7.1f} tokens/s  ({counts[name]} tokens)  ratio to generate {rate / base:.3f}"
            )


if __name__ == "__main__":
    main()
