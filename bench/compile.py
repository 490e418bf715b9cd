"""--compile against plain decoding: tokens/s side by side in one run, and the first compile's time.

One model (the bundled SmolLM2 by default) is loaded once; the compiled variant uses the same
weights with a static KV cache and a torch.compile'd one-token step (engine/compiled.py), as
``workbench --compile`` does. The first compile runs before any timing and is printed on its
own, never counted in tokens/s. Variants, each greedy with the same prompt and token count:

- plain:     the engine's Decoder over the dynamic cache (what the app runs by default)
- static:    the Decoder over the static cache, not compiled (what --compile falls back to)
- compiled:  the Decoder over the static cache with the compiled step (--compile)
- generate:  model.generate(do_sample=False), for reference

Each round runs every variant once, in an order that rotates, so neither warm caches nor
drift in machine speed favour one. Prints the median tokens/s and the median per-round ratio
to plain, and whether the variants' greedy tokens agree.

    python bench/compile.py [--model default] [--dtype auto] [--tokens 128] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable

import torch

from workbench.engine.compiled import enable_static_decoding
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.loading import LoadedModel, load_model
from workbench.engine.prompts import completion_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import LoadSettings, SamplingSettings

PROMPT = "Once upon a time, in a small village by the sea, there lived"


def engine_run(loaded: LoadedModel, ids: list[int], tokens: int) -> tuple[float, list[int]]:
    settings = SamplingSettings(do_sample=False, max_new_tokens=tokens)
    generation = Generation(Decoder(loaded, ids), Sampler(settings), top_k=10)
    out = [step.token_id for step in generation]
    return generation.tokens_per_second, out


def generate_run(loaded: LoadedModel, ids: list[int], tokens: int) -> tuple[float, list[int]]:
    inputs = torch.tensor([ids], device=loaded.input_device)
    started = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(inputs, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens)
    elapsed = time.perf_counter() - started
    new = out[0, len(ids) :].tolist()
    return len(new) / elapsed, new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared machine, one thread waits on no other

    plain = load_model(LoadSettings(model=args.model, device="cpu", dtype=args.dtype))
    print(
        f"model {plain.source.display_name}, {plain.dtype_name} ({plain.dtype_reason}), torch threads {torch.get_num_threads()}"
    )
    static = dataclasses.replace(plain, static=None, _provenance=None)
    enable_static_decoding(static, compile=False)
    compiled = dataclasses.replace(plain, static=None, _provenance=None)
    started = time.perf_counter()
    enable_static_decoding(compiled, compile=True)
    assert compiled.static is not None
    if not compiled.static.compiled:
        raise SystemExit(f"not compiled: {compiled.compile_note}")
    print(
        f"first compile of the decoding step: {compiled.static.first_compile_seconds:.1f} s "
        f"(warm-up with it: {time.perf_counter() - started:.1f} s)"
    )

    ids = list(completion_prompt(plain.tokenizer, PROMPT).ids)
    variants: dict[str, Callable[[], tuple[float, list[int]]]] = {
        "plain": lambda: engine_run(plain, ids, args.tokens),
        "static": lambda: engine_run(static, ids, args.tokens),
        "compiled": lambda: engine_run(compiled, ids, args.tokens),
        "generate": lambda: generate_run(plain, ids, args.tokens),
    }
    names = list(variants)
    speeds: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, list[int]] = {}
    for round_index in range(args.rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            speed, out = variants[name]()
            speeds[name].append(speed)
            outputs[name] = out
        print(f"round {round_index + 1}: " + ", ".join(f"{n} {speeds[n][-1]:.1f}" for n in names) + " tok/s")
    print(f"\n{args.tokens} greedy tokens, prompt of {len(ids)} tokens, median of {args.rounds} rounds:")
    for name in names:
        ratios = [s / p for s, p in zip(speeds[name], speeds["plain"], strict=True)]
        agree = next(
            (i for i, (a, b) in enumerate(zip(outputs[name], outputs["plain"], strict=False)) if a != b),
            min(len(outputs[name]), len(outputs["plain"])),
        )
        same = (
            "same tokens as plain"
            if outputs[name] == outputs["plain"]
            else f"first {agree} of {len(outputs['plain'])} tokens as plain"
        )
        print(
            f"  {name:<9} {statistics.median(speeds[name]):7.1f} tok/s   "
            f"{statistics.median(ratios):.2f}x plain   {same}"
        )
    compiled_vs_generate = [c / g for c, g in zip(speeds["compiled"], speeds["generate"], strict=True)]
    print(f"  compiled / generate: {statistics.median(compiled_vs_generate):.2f}x")


if __name__ == "__main__":
    main()
