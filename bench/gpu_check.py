"""The in-process scale-up checks a GPU machine runs (issue 12 item 5), in one short script.

    python bench/gpu_check.py [--model default] [--tokens 32]

On a machine with CUDA GPUs it checks, each against plain decoding of the same model:
1. multi-GPU: ``--device auto --max-memory`` with caps that force the layers onto two GPUs
   (needs 2+), placed where asked, and greedy tokens equal to a one-GPU load's;
2. ``--quantize 8bit`` and ``4bit`` (needs bitsandbytes): loads, labelled "8-bit bnb" /
   "4-bit bnb" on the status line and in the provenance, and decodes;
3. ``--compile``: the first compile's time, tokens/s against plain, and greedy tokens equal
   to ``generate(cache_implementation="static")``.
Without a GPU it runs the parts that need none (the flags' validation, ``--quantize``
refused on the CPU, ``--max-memory`` on the CPU) and says which GPU parts it skipped and why.
Exit status: 0 when every check that ran passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from collections.abc import Callable

import torch

from workbench.engine.decoding import Decoder, Generation
from workbench.engine.errors import SettingsError
from workbench.engine.loading import LoadedModel, load_model
from workbench.engine.prompts import completion_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import LoadSettings, SamplingSettings

PROMPT = "The capital of France is"
results: list[tuple[str, str, str]] = []  # (check, PASS|FAIL|SKIP, detail)


def check(name: str, run: Callable[[], str]) -> None:
    try:
        detail = run()
        results.append((name, "PASS", detail))
    except Skip as skip:
        results.append((name, "SKIP", str(skip)))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, the rest still run
        traceback.print_exc()
        results.append((name, "FAIL", f"{type(exc).__name__}: {exc}"))
    print(f"[{results[-1][1]}] {name}: {results[-1][2]}", flush=True)


class Skip(Exception):
    pass


def greedy(loaded: LoadedModel, tokens: int) -> tuple[list[int], float]:
    ids = list(completion_prompt(loaded.tokenizer, PROMPT).ids)
    generation = Generation(
        Decoder(loaded, ids), Sampler(SamplingSettings(do_sample=False, max_new_tokens=tokens)), top_k=10
    )
    return [s.token_id for s in generation], generation.tokens_per_second


def cpu_safe(model: str) -> None:
    def flags() -> str:
        for bad, words in (("0=20XB", "not a size"), ("gpu=1GiB", "not a GPU index")):
            try:
                LoadSettings(max_memory=bad)
            except SettingsError as exc:
                assert words in str(exc) and "e.g. 0=20GiB" in str(exc), exc
            else:
                raise AssertionError(f"--max-memory {bad} was accepted")
        return "bad --max-memory values refused with how to write them"

    def quantize_on_cpu() -> str:
        try:
            load_model(LoadSettings(model=model, device="cpu", quantize="4bit"))
        except SettingsError as exc:
            assert "needs a CUDA GPU" in str(exc), exc
            return "refused: " + str(exc)[:80] + "…"
        raise AssertionError("--quantize 4bit on the CPU was accepted")

    def max_memory_cpu() -> str:
        loaded = load_model(LoadSettings(model=model, device="auto", max_memory="cpu=64GiB"))
        assert loaded.plan.placed == ("cpu",), loaded.plan
        return f"placed on {loaded.plan.label}"

    check("flags validated", flags)
    check("--quantize refused on the CPU", quantize_on_cpu)
    check("--max-memory cpu=64GiB on the CPU", max_memory_cpu)


def gpu_checks(model: str, tokens: int) -> None:
    count = torch.cuda.device_count()
    one = load_model(LoadSettings(model=model, device="cuda:0"))
    reference, plain_speed = greedy(one, tokens)
    print(f"{one.source.display_name} on cuda:0 in {one.dtype_name}: {plain_speed:.1f} tok/s plain")

    def multi_gpu() -> str:
        if count < 2:
            raise Skip(f"needs 2 GPUs, this machine has {count}")
        size = sum(p.numel() * p.element_size() for p in one.model.parameters())
        cap = max(int(size * 0.6), 64 * 2**20)  # each GPU holds ~60%: the layers must split
        spec = f"0={cap}B,1={cap}B,cpu=64GiB"
        split = load_model(LoadSettings(model=model, device="auto", max_memory=spec))
        assert {"cuda:0", "cuda:1"} <= set(split.plan.placed), split.plan
        tokens_split, speed = greedy(split, tokens)
        same = sum(a == b for a, b in zip(tokens_split, reference, strict=False))
        split.release()
        assert same >= tokens // 2, f"only {same}/{tokens} greedy tokens agree"
        return f"{split.plan.label} with {spec}: {speed:.1f} tok/s, {same}/{tokens} tokens as on one GPU"

    def quantized(bits: str) -> Callable[[], str]:
        def run() -> str:
            import importlib.util

            if importlib.util.find_spec("bitsandbytes") is None:
                raise Skip("bitsandbytes is not installed: pip install 'workbench[gpu]'")
            loaded = load_model(LoadSettings(model=model, device="cuda:0", quantize=bits))
            label = f"{bits[0]}-bit bnb"
            assert loaded.quantization == label and loaded.precision_label.startswith(label), (
                loaded.precision_label
            )
            assert loaded.provenance()["quantization"] == label
            out, speed = greedy(loaded, tokens)
            memory = torch.cuda.memory_allocated(0) / 2**20
            loaded.release()
            return (
                f"labelled {label!r}, {speed:.1f} tok/s ({speed / plain_speed:.2f}x plain), {memory:.0f} MiB"
            )

        return run

    def compiled() -> str:
        from workbench.engine.compiled import enable_static_decoding

        loaded = dataclasses.replace(one, static=None, _provenance=None)
        started = time.perf_counter()
        enable_static_decoding(loaded, compile=True)
        assert loaded.static is not None and loaded.static.compiled, loaded.compile_note
        warm = time.perf_counter() - started
        out, speed = greedy(loaded, tokens)
        ids = list(completion_prompt(one.tokenizer, PROMPT).ids)
        with torch.inference_mode():
            ref = one.model.generate(
                torch.tensor([ids], device=one.input_device),
                do_sample=False,
                max_new_tokens=tokens,
                cache_implementation="static",
            )[0, len(ids) :].tolist()
        assert out == ref[: len(out)], f"compiled {out} != generate(static) {ref}"
        return (
            f"first compile {loaded.static.first_compile_seconds:.1f} s (warm-up {warm:.1f} s), "
            f"{speed:.1f} tok/s = {speed / plain_speed:.2f}x plain, tokens equal generate(static)"
        )

    check("multi-GPU device_map with --max-memory", multi_gpu)
    check("--quantize 8bit", quantized("8bit"))
    check("--quantize 4bit", quantized("4bit"))
    check("--compile against plain", compiled)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    print(f"torch {torch.__version__}, CUDA GPUs: {gpus}")
    cpu_safe(args.model)
    if gpus:
        gpu_checks(args.model, args.tokens)
    else:
        for name in ("multi-GPU device_map", "--quantize 8bit/4bit", "--compile on a GPU"):
            results.append((name, "SKIP", "no CUDA GPU on this machine (torch.cuda.is_available() is False)"))
    print("\nsummary:")
    for name, status, detail in results:
        print(f"  {status:<4}  {name}: {detail}")
    return 1 if any(status == "FAIL" for _, status, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
