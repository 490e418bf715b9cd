"""Request bodies, per server kind: the same settings said in each server's own words.

Sampling extras beyond OpenAI's (top_k, min_p, repetition penalty) go only to servers that
document them (vLLM's SamplingParams, llama.cpp's /completion options, SGLang's sampling
params); OpenAI itself refuses unknown fields, and Ollama/TGI ignore or refuse them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench.backends.server.semantics import Semantics
from workbench.engine.settings import SamplingSettings

_EXTRAS_SERVERS = ("vllm", "llamacpp", "sglang")


def requested_top_k(semantics: Semantics, top_k: int) -> int:
    """``top_k`` candidates, within the server's cap (0 when it gives no probabilities)."""
    if not semantics.logprobs or top_k <= 0:
        return 0
    cap = semantics.top_k_cap
    return min(top_k, cap) if cap is not None else top_k


def sampling_fields(semantics: Semantics, settings: SamplingSettings) -> dict[str, Any]:
    """temperature/top_p/max_tokens/seed/stop for everyone, the extras where documented."""
    greedy = not settings.do_sample or settings.temperature == 0
    body: dict[str, Any] = {
        "max_tokens": settings.max_new_tokens,
        "temperature": 0.0 if greedy else settings.temperature,
    }
    if not greedy:
        body["top_p"] = settings.top_p
    if settings.seed is not None:
        body["seed"] = settings.seed
    if settings.stop:
        body["stop"] = list(settings.stop)
    if semantics.kind in _EXTRAS_SERVERS and not greedy:
        body["top_k"] = settings.top_k if settings.top_k > 0 else -1
        body["min_p"] = settings.min_p
        key = "repeat_penalty" if semantics.kind == "llamacpp" else "repetition_penalty"
        body[key] = settings.repetition_penalty
    return body


def logprob_fields(
    semantics: Semantics, top_k: int, post_sampling: bool, completions: bool
) -> dict[str, Any]:
    """Ask for per-token probabilities with ``top_k`` candidates, in this server's words."""
    k = requested_top_k(semantics, top_k)
    if not semantics.logprobs:
        return {}
    body: dict[str, Any]
    if completions:
        # legacy completions: ``logprobs`` is the count (llama.cpp: an alias of n_probs)
        body = {"logprobs": max(k, 1)}
    else:
        body = {"logprobs": True, "top_logprobs": k}
    if semantics.kind == "llamacpp":
        body["n_probs"] = max(k, 1)
        if post_sampling:
            body["post_sampling_probs"] = True
    if semantics.kind == "vllm":
        body["return_tokens_as_token_ids"] = True  # each token as "token_id:<id>"
    return body


def chat_body(
    semantics: Semantics,
    model: str,
    messages: Sequence[Mapping[str, str]],
    settings: SamplingSettings,
    top_k: int,
    post_sampling: bool = False,
    continue_final: bool = False,
) -> dict[str, Any]:
    """A streaming /v1/chat/completions request."""
    body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], "stream": True}
    body.update(sampling_fields(semantics, settings))
    body.update(logprob_fields(semantics, top_k, post_sampling, completions=False))
    if continue_final:
        # vLLM: continue the last (assistant) message instead of opening a new turn
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    return body


def completion_body(
    semantics: Semantics,
    model: str,
    prompt: str | Sequence[int],
    settings: SamplingSettings,
    top_k: int,
    post_sampling: bool = False,
    stream: bool = True,
) -> dict[str, Any]:
    """A /v1/completions request; ``prompt`` is text or token ids (vLLM, llama.cpp, SGLang)."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt if isinstance(prompt, str) else [int(i) for i in prompt],
        "stream": stream,
    }
    body.update(sampling_fields(semantics, settings))
    body.update(logprob_fields(semantics, top_k, post_sampling, completions=True))
    return body


def sglang_generate_body(prompt_ids: Sequence[int], settings: SamplingSettings, top_k: int) -> dict[str, Any]:
    """SGLang's native /generate for one step: ids in, ``[logprob, id, text]`` candidates out."""
    greedy = not settings.do_sample or settings.temperature == 0
    return {
        "input_ids": [int(i) for i in prompt_ids],
        "sampling_params": {"max_new_tokens": 1, "temperature": 0.0 if greedy else settings.temperature},
        "return_logprob": True,
        "top_logprobs_num": max(1, top_k),
        "return_text_in_logprobs": True,
        "logprob_start_len": -1,
    }
