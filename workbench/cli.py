"""Command-line entry point.

Keep this module light: ``workbench --help`` must answer without importing torch,
transformers or Textual, so every command imports what it needs inside its own function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from workbench import __version__


def _model_options(scale_up: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model")
    group.add_argument(
        "--model",
        "-m",
        default=None,
        help="'default' (bundled SmolLM2-135M-Instruct), a hub id such as HuggingFaceTB/SmolLM2-360M-Instruct, "
        "a local model folder, or a .gguf file (default: the config's model, else 'default')",
    )
    group.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    group.add_argument(
        "--dtype",
        default=None,
        help="auto, float32, bfloat16 or float16 (default: auto, the same at every launch of one machine: "
        "bfloat16 on GPUs that support it, else float16; float16 on MPS; on the CPU bfloat16 where it has "
        "native bfloat16 (AVX512-BF16, AMX or Arm BF16 in /proc/cpuinfo), else float32; where the flags "
        "cannot be read, measured once and kept per machine and torch version; for a classifier or "
        "masked LM (classify, fill: one forward pass) auto keeps the checkpoint's own dtype; the app's "
        "status line and the --json outputs say which was chosen and why)",
    )
    group.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=None,
        help="run custom code from the model's repository",
    )
    if scale_up:
        _scale_up_options(group)
    return parent


def _scale_up_options(group: argparse._ArgumentGroup) -> None:
    """Big models in-process: several GPUs, quantized weights, compiled decoding."""
    group.add_argument(
        "--max-memory",
        default=None,
        metavar="DEV=SIZE,...",
        help="with --device auto: spread the model over devices with accelerate's device_map='auto', "
        "at most this much on each, e.g. 0=20GiB,1=20GiB,cpu=64GiB (default: no caps; several GPUs "
        "are used with device_map='auto' either way)",
    )
    group.add_argument(
        "--quantize",
        default=None,
        choices=["none", "8bit", "4bit"],
        help="load 8-bit (LLM.int8) or 4-bit (NF4) weights through bitsandbytes; CUDA only, "
        "pip install 'workbench[gpu]' (default: none)",
    )
    group.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode with a static KV cache and a torch.compile'd decoding step (compiled once at "
        "load, a minute or more on a CPU; not counted in tok/s)",
    )


def _sampling_options(top_k_flag: str = "--top-k", stop: bool = False) -> argparse.ArgumentParser:
    from workbench.engine.settings import SamplingSettings  # pure Python: no torch

    default = SamplingSettings()  # the defaults stated below are the ones used
    where = "the config's value, else"
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("sampling")
    group.add_argument(
        "--greedy", action="store_true", help="always take the most probable token (do_sample off)"
    )
    group.add_argument(
        "--temperature",
        type=str,
        default=None,
        help=f"0 = greedy; lower is more focused (default: {where} {default.temperature:g})",
    )
    group.add_argument(
        top_k_flag,
        dest="sample_top_k",
        type=str,
        default=None,
        help=f"sample among the k most probable tokens; 0 = off (default: {where} {default.top_k})",
    )
    group.add_argument(
        "--top-p",
        type=str,
        default=None,
        help="nucleus sampling: smallest set with this much probability; 1 = off "
        f"(default: {where} {default.top_p:g})",
    )
    group.add_argument(
        "--min-p",
        type=str,
        default=None,
        help=f"drop tokens below min_p x the top probability; 0 = off (default: {where} {default.min_p:g})",
    )
    group.add_argument(
        "--repetition-penalty",
        type=str,
        default=None,
        help=f"1 = off; 1.1 discourages repeats (default: {where} {default.repetition_penalty:g})",
    )
    group.add_argument(
        "--max-new-tokens",
        type=str,
        default=None,
        help=f"stop after this many tokens (default: {where} {default.max_new_tokens})",
    )
    group.add_argument("--seed", type=str, default=None, help="make sampling reproducible")
    if stop:
        group.add_argument(
            "--stop",
            action="append",
            metavar="STR",
            default=None,
            help="end the reply where its text contains STR, which is cut from it; repeat for more; "
            "\\n is a newline, \\t a tab, \\s a space, \\\\ a backslash (default: the config's list, else none)",
        )
    return parent


def _server_options(probs: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server (instead of an in-process model)")
    group.add_argument(
        "--server",
        metavar="URL",
        default=None,
        help="an OpenAI-compatible server's base URL, e.g. http://127.0.0.1:8080/v1 (vLLM, SGLang, "
        "llama.cpp's llama-server, TGI, Ollama, OpenAI); the API key comes from WORKBENCH_API_KEY, "
        "then OPENAI_API_KEY",
    )
    group.add_argument(
        "--server-model",
        metavar="NAME",
        default=None,
        help="the server's model (default: the first of /v1/models)",
    )
    if probs:
        group.add_argument(
            "--server-probs",
            choices=["raw", "post-sampling"],
            default=None,
            help="post-sampling asks llama.cpp for probabilities after its sampler chain "
            "(post_sampling_probs); for vLLM, say it runs with --logprobs-mode processed_* "
            "(default: the server's own default, raw for both)",
        )
    return parent


def build_parser() -> argparse.ArgumentParser:
    model, sampling = _model_options(), _sampling_options(stop=True)  # probe takes no stop strings
    plain_model = _model_options(scale_up=False)  # commands without a decoding loop on a GPU
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Look inside a language model one token at a time. With no command, opens the full-screen workbench.",
        parents=[model, _server_options()],
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--resume", metavar="last|ID", default=None, help="reopen a saved session")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    probe = commands.add_parser(
        "probe",
        parents=[model, _sampling_options("--sample-top-k")],
        help="the next-token table for a prompt",
        description="Show the most probable next tokens after TEXT, with p = softmax(logits) and the sampling probability q.",
    )
    probe.add_argument("text", help="the prompt, e.g. '1+1='")
    probe.add_argument(
        "--top-k", "-k", dest="rows", type=str, default="10", help="how many candidates to show (1-50)"
    )
    probe.add_argument("--chat", action="store_true", help="wrap TEXT as a user message in the chat template")
    probe.add_argument("--json", action="store_true", help="machine-readable output")

    tokenize = commands.add_parser(
        "tokenize", parents=[plain_model, _server_options()], help="split text into tokens and ids"
    )
    tokenize.add_argument("text", help="the text to split")
    tokenize.add_argument(
        "--special",
        action="store_true",
        help="add the tokenizer's special tokens (BOS...) as the model sees them",
    )
    tokenize.add_argument(
        "--chat", action="store_true", help="tokenize TEXT as a user message in the chat template"
    )
    tokenize.add_argument("--json", action="store_true", help="machine-readable output")

    generate = commands.add_parser(
        "generate",
        parents=[model, sampling, _server_options(probs=True)],
        help="generate text, streaming it token by token",
    )
    generate.add_argument("prompt", help="the prompt")
    generate.add_argument(
        "--chat", action="store_true", help="send PROMPT as a user message through the chat template"
    )
    generate.add_argument("--system", default=None, help="system prompt (with --chat)")
    generate.add_argument("--show-probs", action="store_true", help="print each token with its probability")
    generate.add_argument("--json", action="store_true", help="machine-readable output at the end")

    vocab = commands.add_parser("vocab", parents=[plain_model], help="search or export the vocabulary")
    vocab.add_argument("--search", "-s", default=None, help="text to look for in token texts")
    vocab.add_argument(
        "--mode", choices=["substring", "regex", "id"], default="substring", help="how --search matches"
    )
    vocab.add_argument("--limit", type=int, default=None, help="show at most this many matches")
    vocab.add_argument(
        "--out", "-o", default=None, help="write the (matching) vocabulary to FILE (.json, .tsv or .txt)"
    )
    vocab.add_argument("--json", action="store_true", help="machine-readable output")

    classify = commands.add_parser(
        "classify",
        parents=[model],
        help="label probabilities: a classifier's softmax, or zero-shot with a causal LM",
        description="Classify TEXT. A sequence-classification model gives softmax(logits) over its "
        "id2label labels; a causal LM (the bundled default) scores each label as the continuation of "
        "a prompt template: P(label) = the product of its tokens' p, normalised over the labels.",
    )
    classify.add_argument(
        "text", nargs="?", default=None, help="the text to classify, e.g. 'I loved this film'"
    )
    classify.add_argument(
        "--file",
        default=None,
        help="classify each line of FILE instead of TEXT (blank lines skipped; one model load)",
    )
    classify.add_argument(
        "--out",
        "-o",
        default=None,
        help="with --file: write the results to OUT, CSV (.csv: text, label, p, a p_LABEL column per "
        "label, line) or JSON Lines (.jsonl: one --json record per line); default: JSON Lines on stdout",
    )
    classify.add_argument(
        "--labels", default=None, help="zero-shot labels, comma-separated (default: positive,negative)"
    )
    classify.add_argument(
        "--template",
        default=None,
        help="zero-shot prompt with a {text} placeholder; each label is scored as its continuation, "
        "after a space unless the template ends in whitespace; \\n stands for a newline "
        "(default: 'Review: {text}\\nSentiment:')",
    )
    classify.add_argument(
        "--json", action="store_true", help="machine-readable output (for TEXT; --file always is)"
    )

    fill = commands.add_parser(
        "fill",
        parents=[plain_model],
        help="fill-mask: the top-k candidates for each [MASK] of a masked language model",
        description="For each mask in TEXT, the most probable tokens with p = softmax(logits) at the "
        "mask's position, from a masked language model (AutoModelForMaskedLM) named with --model, "
        "e.g. distilbert-base-uncased or a local folder. [MASK] stands for the model's own mask token.",
    )
    fill.add_argument(
        "text", help="the text with one or more [MASK], e.g. 'The capital of France is [MASK].'"
    )
    fill.add_argument(
        "--top-k", "-k", type=str, default="5", help="how many candidates to show per mask (1-50, default 5)"
    )
    fill.add_argument("--json", action="store_true", help="machine-readable output")

    _add_lens_and_score(commands, model)

    from workbench.commands.sessions import add_parser as add_sessions_parser  # torch-free, like this module

    add_sessions_parser(commands)

    from workbench.commands.diff import add_parser as add_diff_parser  # torch-free, like this module

    add_diff_parser(commands, model)

    return parser


def _add_lens_and_score(commands: Any, model: argparse.ArgumentParser) -> None:
    lens = commands.add_parser(
        "lens",
        parents=[model],
        help="logit lens: the top-k of every layer for one predicted token",
        description="Each layer's hidden state through the model's final norm and lm_head, then softmax: "
        "what the model would predict if that layer were its last, with the probability of the token "
        "finally chosen at each layer. The last layer's row is the model's own p.",
    )
    lens.add_argument("text", help="the text, e.g. 'The capital of France is'")
    lens.add_argument(
        "--position",
        "-p",
        default=None,
        help="the index of the predicted token (predicted from the tokens before it): 1 to the "
        "text's length; negative counts from the end (-1 = the text's last token) "
        "(default: the token after the text, the last layer's top token)",
    )
    lens.add_argument("--top-k", "-k", default="5", help="candidates per layer (1-50, default 5)")
    lens.add_argument("--json", action="store_true", help="machine-readable output")

    score = commands.add_parser(
        "score",
        parents=[model],
        help="score a text: each token's p, rank and surprisal, and the perplexity",
        description="p of each token given the tokens before it (softmax of the logits), its rank, its "
        "surprisal -log2 p in bits, and the text's perplexity. A text longer than the window is scored "
        "with a sliding window (as in the Hugging Face perplexity guide): each token once, with at least "
        "WINDOW - STRIDE tokens of context.",
    )
    score.add_argument("text", nargs="?", default=None, help="the text to score")
    score.add_argument("--file", default=None, help="score the text of FILE (UTF-8) instead")
    score.add_argument(
        "--window", default=None, help="tokens per forward pass (default: the model's context, at most 1024)"
    )
    score.add_argument(
        "--stride", default=None, help="tokens the window moves each pass (default: half the window)"
    )
    score.add_argument("--top", type=int, default=10, help="how many of the most surprising tokens to list")
    score.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from workbench.commands.common import run_command

    return run_command(args, parser)


if __name__ == "__main__":
    sys.exit(main())
