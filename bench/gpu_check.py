"""The in-process scale-up checks a GPU machine runs (issue 12 item 5), in one short script.

    python bench/gpu_check.py [--model default] [--tokens 128] [--rounds 3]
    python bench/gpu_check.py --build-random llama1b --tokenizer DIR --out /tmp/rand1b   # no downloads

``--build-random`` first writes a model with seeded random weights from a config (``llama1b``:
Llama-3.2-1B's shape, hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192, with
the vocabulary of the tokenizer in ``--tokenizer``; ``tiny``: 2 layers, for a CPU dry run) and
runs every check on it: a GPU machine with no network can still run them all.

On a machine with a CUDA GPU it checks, each against plain decoding of the same model:
1. ``--compile``: plain, compiled and ``generate(cache_implementation="static")`` measured side
   by side in one run (rounds in rotating order, medians), the first compile's seconds kept
   out of tokens/s, and greedy tokens compared token for token (compiled against
   generate(static), compiled against plain);
2. ``--device auto --max-memory``: caps that force a split (over two GPUs where there are two,
   else between cuda:0 and the CPU), the placement label, and the split model's logits
   against a one-device load's (max |difference|, argmax at every position);
3. ``--quantize 8bit`` and ``4bit`` (needs bitsandbytes): loads, labelled "8-bit bnb" /
   "4-bit bnb" on the status line and in the provenance, a forward pass and a short decode;
4. the in-process engine's plain decoding tokens/s on the GPU (from 1).
Without a GPU it runs the parts that need none (the flags' validation, ``--quantize``
refused on the CPU, ``--max-memory`` on the CPU, and the compile comparison on the CPU) and
says which GPU parts it skipped and why.
Exit status: 0 when every check that ran passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from workbench.engine.decoding import Decoder, Generation
from workbench.engine.errors import SettingsError
from workbench.engine.loading import LoadedModel, load_model
from workbench.engine.prompts import completion_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import LoadSettings, SamplingSettings

PROMPT = "Once upon a time, in a small village by the sea, there lived"
results: list[tuple[str, str, str]] = []  # (check, PASS|FAIL|SKIP|INFO, detail)
T0 = time.perf_counter()


def stamp() -> str:
    return f"[{time.perf_counter() - T0:6.1f} s]"


def check(name: str, run: Callable[[], str]) -> None:
    print(f"{stamp()} running: {name}", flush=True)
    try:
        detail = run()
        results.append((name, "PASS", detail))
    except Skip as skip:
        results.append((name, "SKIP", str(skip)))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, the rest still run
        traceback.print_exc()
        results.append((name, "FAIL", f"{type(exc).__name__}: {exc}"[:400]))
    print(f"{stamp()} [{results[-1][1]}] {name}: {results[-1][2]}", flush=True)


class Skip(Exception):
    pass


# --- a random-weight model from a config (no downloads) ----------------------------------

SHAPES = {
    # Llama-3.2-1B's shape (its tokenizer's vocabulary replaced by --tokenizer's)
    "llama1b": dict(
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=512,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    ),
}


def build_random(shape: str, tokenizer_dir: str, out: str, seed: int = 0) -> str:
    """Write a LlamaForCausalLM with seeded random weights and ``tokenizer_dir``'s tokenizer to ``out``."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=None,  # a random model's greedy run must not stop at an end token
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        **SHAPES[shape],
    )
    config.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(
        f"{stamp()} built {shape}: {params / 1e9:.3f} B parameters, vocab {len(tokenizer)}, bfloat16, "
        f"seed {seed}, in {out} ({time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    return out


# --- decoding helpers --------------------------------------------------------------------


def prompt_ids(loaded: LoadedModel) -> list[int]:
    return list(completion_prompt(loaded.tokenizer, PROMPT).ids)


def no_eos(loaded: LoadedModel) -> LoadedModel:
    """The same model with no end tokens: every run decodes exactly the tokens asked for."""
    return dataclasses.replace(loaded, eos_token_ids=frozenset(), _provenance=None)


def engine_run(loaded: LoadedModel, tokens: int) -> tuple[float, list[int]]:
    settings = SamplingSettings(do_sample=False, max_new_tokens=tokens)
    generation = Generation(Decoder(no_eos(loaded), prompt_ids(loaded)), Sampler(settings), top_k=10)
    out = [s.token_id for s in generation]
    return generation.tokens_per_second, out


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def generate_static(loaded: LoadedModel, tokens: int) -> tuple[float, list[int]]:
    ids = prompt_ids(loaded)
    inputs = torch.tensor([ids], device=loaded.input_device)
    sync()
    started = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            do_sample=False,
            max_new_tokens=tokens,
            cache_implementation="static",
        )
    sync()
    new = out[0, len(ids) :].tolist()
    return len(new) / (time.perf_counter() - started), new


def first_difference(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


@torch.inference_mode()
def top2_gap(loaded: LoadedModel, generated: list[int], at: int) -> float:
    """The gap between the two largest logits before generated token ``at`` (a near tie explains a flip)."""
    ids = torch.tensor([prompt_ids(loaded) + generated[:at]], device=loaded.input_device)
    logits = loaded.model(input_ids=ids).logits[0, -1].float()
    top = torch.topk(logits, 2).values
    return float(top[0] - top[1])


def agreement(name: str, a: list[int], b: list[int], loaded: LoadedModel) -> str:
    diff = first_difference(a, b)
    if diff is None:
        return f"{name}: all {len(a)} tokens equal"
    gap = top2_gap(loaded, a, diff)
    return f"{name}: first {diff} of {len(a)} tokens equal (top-2 logit gap there {gap:.4f})"


def model_bytes(loaded: LoadedModel) -> int:
    return sum(p.numel() * p.element_size() for p in loaded.model.parameters())


# --- the checks --------------------------------------------------------------------------


def cpu_safe(model: str, load_on_cpu: bool) -> None:
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
    if load_on_cpu:
        check("--max-memory cpu=64GiB on the CPU", max_memory_cpu)


def compile_side_by_side(one: LoadedModel, tokens: int, rounds: int) -> None:
    """Plain, compiled and generate(static), measured in one run; tokens compared."""
    from workbench.engine.compiled import enable_static_decoding

    def run() -> str:
        compiled = dataclasses.replace(one, static=None, _provenance=None)
        started = time.perf_counter()
        enable_static_decoding(compiled, compile=True)
        assert compiled.static is not None and compiled.static.compiled, compiled.compile_note
        warm = time.perf_counter() - started
        print(
            f"{stamp()} engine --compile: first compile {compiled.static.first_compile_seconds:.1f} s "
            f"(mode {compiled.static.mode}; warm-up with it {warm:.1f} s)",
            flush=True,
        )
        started = time.perf_counter()
        _, _ = generate_static(one, tokens)  # generate compiles its own step on its first call
        gen_warm = time.perf_counter() - started
        print(f"{stamp()} generate(static) first call (its own compile): {gen_warm:.1f} s", flush=True)
        started = time.perf_counter()
        _, _ = engine_run(compiled, tokens)  # a 256-token cache may need its step compiled once more
        _, _ = engine_run(one, 8)
        print(
            f"{stamp()} warm-up runs {time.perf_counter() - started:.1f} s; "
            f"engine compile seconds so far {compiled.static.compile_seconds:.1f}, "
            f"recompiles {compiled.static.recompiles}",
            flush=True,
        )
        variants: dict[str, Callable[[], tuple[float, list[int]]]] = {
            "plain": lambda: engine_run(one, tokens),
            "compiled": lambda: engine_run(compiled, tokens),
            "generate(static)": lambda: generate_static(one, tokens),
        }
        names = list(variants)
        speeds: dict[str, list[float]] = {n: [] for n in names}
        outputs: dict[str, list[int]] = {}
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                speed, out = variants[name]()
                speeds[name].append(speed)
                outputs.setdefault(name, out)
                assert out == outputs[name], f"{name} gave other tokens in round {r + 1}"
            print(
                f"{stamp()} round {r + 1}: "
                + ", ".join(f"{n} {speeds[n][-1]:.1f}" for n in names)
                + " tok/s",
                flush=True,
            )
        med = {n: statistics.median(speeds[n]) for n in names}
        ratio = statistics.median(c / p for c, p in zip(speeds["compiled"], speeds["plain"], strict=True))
        vs_gen = statistics.median(
            c / g for c, g in zip(speeds["compiled"], speeds["generate(static)"], strict=True)
        )
        lines = [
            f"{tokens} greedy tokens, prompt {len(prompt_ids(one))} tokens, {rounds} rounds, medians:",
            f"plain {med['plain']:.1f} tok/s | compiled {med['compiled']:.1f} tok/s | "
            f"generate(static) {med['generate(static)']:.1f} tok/s",
            f"compiled/plain {ratio:.2f}x, compiled/generate(static) {vs_gen:.2f}x; first compile "
            f"{compiled.static.first_compile_seconds:.1f} s (all engine compiles {compiled.static.compile_seconds:.1f} s, "
            f"recompiles {compiled.static.recompiles}), kept out of tok/s",
            agreement("compiled vs generate(static)", outputs["compiled"], outputs["generate(static)"], one),
            agreement("plain vs compiled", outputs["plain"], outputs["compiled"], one),
        ]
        for line in lines:
            print("   " + line, flush=True)
        equal = outputs["compiled"] == outputs["generate(static)"]
        results.append(
            (
                "engine plain decode on " + one.plan.label,
                "INFO",
                f"{med['plain']:.1f} tok/s ({one.dtype_name})",
            )
        )
        compiled.release()
        if not equal:
            raise AssertionError(" / ".join(lines))
        return " / ".join(lines)

    check(f"--compile against plain and generate(static) on {one.plan.label}", run)


def split_check(model: str, one: LoadedModel, count: int) -> None:
    def run() -> str:
        size = model_bytes(one)
        if count >= 2:
            cap = int(size * 0.6)
            spec = f"0={cap}B,1={cap}B,cpu=64GiB"
            want = {"cuda:0", "cuda:1"}
        else:
            cap = int(size * 0.5)
            spec = f"0={cap}B,cpu=64GiB"
            want = {"cuda:0", "cpu"}
        started = time.perf_counter()
        split = load_model(
            LoadSettings(model=model, device="auto", max_memory=spec, dtype=one.settings.dtype)
        )
        load_s = time.perf_counter() - started
        assert want <= set(split.plan.placed), split.plan
        device_map: dict[str, int | str] = split.model.hf_device_map
        on_gpu = sum(1 for v in device_map.values() if not isinstance(v, str) or v.startswith("cuda"))
        ids = torch.tensor([prompt_ids(one)], device=one.input_device)
        with torch.inference_mode():
            a = one.model(input_ids=ids).logits[0].float()
            b = split.model(input_ids=ids.to(split.input_device)).logits[0].float().to(a.device)
        diff = float((a - b).abs().max())
        scale = float(a.abs().max())
        argmax_same = int((a.argmax(-1) == b.argmax(-1)).sum())
        tol = (1e-3 if one.dtype == torch.float32 else 2e-2) * max(scale, 1.0)  # rounding, other kernels
        speed, out_split = engine_run(split, 16)
        _, out_one = engine_run(one, 16)
        from workbench.engine.compiled import enable_static_decoding

        probe = dataclasses.replace(split, static=None, _provenance=None)
        enable_static_decoding(probe, compile=True)
        note = probe.compile_note or "(no note)"
        detail = (
            f"--max-memory {spec} -> {split.plan.label}, {on_gpu}/{len(device_map)} "
            f"modules on GPUs, load {load_s:.1f} s; logits of {ids.shape[1]} positions vs cuda:0 load: "
            f"max |diff| {diff:.3g} (max |logit| {scale:.3g}, tolerance {tol:.3g}), argmax equal at "
            f"{argmax_same}/{ids.shape[1]} positions; 16 greedy tokens equal: {out_split == out_one}; "
            f"engine decode {speed:.1f} tok/s split; --compile on it: {note}"
        )
        split.release()
        assert diff <= tol, detail
        return detail

    check(
        "device_map='auto' with --max-memory forcing a split"
        + (" over 2 GPUs" if count >= 2 else " cuda:0 + cpu"),
        run,
    )
    if count < 2:
        results.append(("multi-GPU (2+ GPUs) split", "SKIP", f"needs 2 GPUs, this machine has {count}"))


def quantized_checks(model: str, one: LoadedModel, plain_speed: float | None) -> None:
    def quantized(bits: str) -> Callable[[], str]:
        def run() -> str:
            import importlib.util

            if importlib.util.find_spec("bitsandbytes") is None:
                raise Skip("bitsandbytes is not installed: pip install 'workbench[gpu]'")
            import bitsandbytes  # type: ignore[import-not-found]

            torch.cuda.reset_peak_memory_stats(0)
            before = torch.cuda.memory_allocated(0)
            started = time.perf_counter()
            loaded = load_model(LoadSettings(model=model, device="cuda:0", quantize=bits))
            load_s = time.perf_counter() - started
            weights = (torch.cuda.memory_allocated(0) - before) / 2**20
            label = f"{bits[0]}-bit bnb"
            assert loaded.quantization == label and loaded.precision_label.startswith(label), (
                loaded.precision_label
            )
            assert loaded.provenance()["quantization"] == label
            ids = torch.tensor([prompt_ids(one)], device=one.input_device)
            with torch.inference_mode():
                a = one.model(input_ids=ids).logits[0].float()
                b = loaded.model(input_ids=ids).logits[0].float()
            finite = bool(torch.isfinite(b).all())
            corr = float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])
            top1 = float((a.argmax(-1) == b.argmax(-1)).float().mean())
            speed, _ = engine_run(loaded, 32)
            shown = loaded.precision_label
            loaded.release()
            assert finite, "non-finite logits"
            rel = f" ({speed / plain_speed:.2f}x bf16 plain)" if plain_speed else ""
            return (
                f"bitsandbytes {bitsandbytes.__version__}: labelled {shown!r}, load {load_s:.1f} s, "
                f"weights {weights:.0f} MiB on cuda:0 (bf16: {model_bytes(one) / 2**20:.0f} MiB); forward: "
                f"logits finite, corr with bf16 {corr:.4f}, argmax same as bf16 at {top1:.0%} of "
                f"{ids.shape[1]} positions; 32 greedy tokens at {speed:.1f} tok/s{rel}"
            )

        return run

    check("--quantize 8bit", quantized("8bit"))
    check("--quantize 4bit", quantized("4bit"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--build-random", choices=sorted(SHAPES), help="build a random-weight model first")
    parser.add_argument("--tokenizer", help="tokenizer folder for --build-random")
    parser.add_argument("--out", default="/tmp/workbench-random-model", help="where --build-random writes")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="auto", help="dtype of the loads (auto: bfloat16 on a GPU)")
    parser.add_argument("--skip", default="", help="comma list of: split, quantize, compile")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    import transformers

    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, CUDA GPUs: {gpus}", flush=True
    )
    if gpus:
        print(
            f"GPU 0: {torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
        )
    model = args.model
    if args.build_random:
        if not args.tokenizer:
            parser.error("--build-random needs --tokenizer DIR")
        model = str(Path(build_random(args.build_random, args.tokenizer, args.out)).resolve())
    cpu_safe(model, load_on_cpu=not gpus)
    device = "cuda:0" if gpus else "cpu"
    started = time.perf_counter()
    one = load_model(LoadSettings(model=model, device=device, dtype=args.dtype))
    print(
        f"{stamp()} {one.source.display_name} on {one.plan.label} in {one.dtype_name} ({one.dtype_reason}), "
        f"{model_bytes(one) / 2**20:.0f} MiB, loaded in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    if gpus and "split" not in skip:
        split_check(model, one, gpus)
    if gpus and "quantize" not in skip:
        quantized_checks(model, one, None)
    if "compile" not in skip:
        compile_side_by_side(one, args.tokens, args.rounds)
    if not gpus:
        for name in ("device_map split / multi-GPU", "--quantize 8bit/4bit"):
            results.append((name, "SKIP", "no CUDA GPU on this machine (torch.cuda.is_available() is False)"))
    print(f"\n{stamp()} summary:")
    for name, status, detail in results:
        print(f"  {status:<4}  {name}: {detail}")
    return 1 if any(status == "FAIL" for _, status, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
