"""Writes the constructed (not recorded) fixtures for vLLM, SGLang, TGI, Ollama, OpenAI and an
unknown server, from each one's documented response format (see README.md for the sources).

No real server of these kinds could run here; these files are what their docs and source say
they send, with made-up token ids and probabilities. Run: python tests/recordings/build_constructed.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (text, id, logprob, alternatives [(text, id, logprob)])
REPLY = [
    ("The", 504, -0.05, [("Paris", 42192, -3.2), ("France", 4649, -4.0)]),
    (" capital", 3575, -0.2, [(" city", 1191, -1.8), (" answer", 3114, -3.5)]),
    (" is", 314, -0.01, [(" of", 282, -5.1), ("'s", 506, -6.0)]),
    (" Paris", 7042, -0.02, [(" paris", 31320, -4.4), (" Lyon", 40779, -6.3)]),
    (".", 30, -0.3, [("!", 17, -1.5), (",", 28, -3.0)]),
]
TEXT = "".join(t for t, *_ in REPLY)
CREATED = 1764500000


def _lp(text, tid, logprob, vllm_ids=False, with_bytes=True, with_id=False):
    entry = {"token": f"token_id:{tid}" if vllm_ids else text, "logprob": logprob}
    if with_bytes:
        entry["bytes"] = list((f"token_id:{tid}" if vllm_ids else text).encode())
    if with_id:
        entry["id"] = tid
    return entry


def chat_events(model, vllm_ids=False, with_bytes=True, extra_final=None, role_chunk=True):
    events = []
    if role_chunk:
        events.append(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
        )
    for text, tid, lp, alts in REPLY:
        chosen = _lp(text, tid, lp, vllm_ids, with_bytes)
        tops = [_lp(text, tid, lp, vllm_ids, with_bytes)] + [
            _lp(t, i, v, vllm_ids, with_bytes) for t, i, v in alts
        ]
        events.append(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": text},
                        "logprobs": {"content": [{**chosen, "top_logprobs": tops}]},
                        "finish_reason": None,
                    }
                ],
            }
        )
    final = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    final.update(extra_final or {})
    events.append(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [final],
        }
    )
    return [json.dumps(e) for e in events] + ["[DONE]"]


def write(path, about, exchanges):
    (HERE / path).write_text(
        json.dumps({"about": about, "exchanges": exchanges}, indent=1) + "\n", encoding="utf-8"
    )


def models(model, owner, **extra):
    return {
        "method": "GET",
        "path": "/v1/models",
        "status": 200,
        "json": {
            "object": "list",
            "data": [{"id": model, "object": "model", "created": CREATED, "owned_by": owner, **extra}],
        },
    }


def main():
    # vLLM: owned_by "vllm" (vllm/entrypoints/openai/models/serving.py), /version,
    # return_tokens_as_token_ids -> "token_id:N" (engine/serving.py), stop_reason in choices.
    m = "Qwen/Qwen2.5-0.5B-Instruct"
    write(
        "vllm/chat.json",
        "constructed from vLLM source (chat_completion/serving.py, engine/serving.py), not recorded",
        [
            models(m, "vllm", root=m, parent=None, max_model_len=32768),
            {"method": "GET", "path": "/version", "status": 200, "json": {"version": "0.11.0"}},
            {
                "method": "POST",
                "path": "/v1/chat/completions",
                "status": 200,
                "sse": chat_events(m, vllm_ids=True, extra_final={"stop_reason": None}),
            },
            {
                "method": "POST",
                "path": "/detokenize",
                "status": 200,
                "key": "tokens",
                "answers": {json.dumps([tid]): {"prompt": text} for text, tid, *_ in REPLY}
                | {json.dumps([i]): {"prompt": t} for _, _, _, alts in REPLY for t, i, _ in alts},
            },
            {
                "method": "POST",
                "path": "/v1/completions",
                "status": 200,
                "json": {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "created": CREATED,
                    "model": m,
                    "choices": [
                        {
                            "index": 0,
                            "text": " Paris",
                            "finish_reason": "length",
                            "stop_reason": None,
                            "logprobs": {
                                "text_offset": [0],
                                "token_logprobs": [-0.02],
                                "tokens": ["token_id:7042"],
                                "top_logprobs": [
                                    {"token_id:7042": -0.02, "token_id:31320": -4.4, "token_id:40779": -6.3}
                                ],
                            },
                        }
                    ],
                },
            },
            {
                "method": "POST",
                "path": "/tokenize",
                "status": 200,
                "json": {"count": 3, "max_model_len": 32768, "tokens": [504, 3575, 314], "token_strs": None},
            },
        ],
    )
    # SGLang: owned_by "sglang"; OpenAI chat logprobs carry no ids; native /generate with
    # top_logprobs_num + return_text_in_logprobs returns [logprob, id, text] triples.
    m = "meta-llama/Llama-3.2-1B-Instruct"
    write(
        "sglang/chat.json",
        "constructed from SGLang source (srt/entrypoints/openai/serving_chat.py, /generate meta_info), not recorded",
        [
            models(m, "sglang", root=m, max_model_len=131072),
            {"method": "POST", "path": "/v1/chat/completions", "status": 200, "sse": chat_events(m)},
            {
                "method": "POST",
                "path": "/generate",
                "status": 200,
                "json": {
                    "text": " Paris",
                    "meta_info": {
                        "id": "r1",
                        "finish_reason": {"type": "length", "length": 1},
                        "prompt_tokens": 12,
                        "completion_tokens": 1,
                        "output_token_logprobs": [[-0.02, 7042, " Paris"]],
                        "output_top_logprobs": [
                            [[-0.02, 7042, " Paris"], [-4.4, 31320, " paris"], [-6.3, 40779, " Lyon"]]
                        ],
                    },
                },
            },
        ],
    )
    # TGI: /info (model_id, version), chat chunks with logprobs.content entries without bytes;
    # top_n_tokens capped by --max-top-n-tokens (default 5).
    m = "HuggingFaceTB/SmolLM2-135M-Instruct"
    write(
        "tgi/chat.json",
        "constructed from TGI docs/source (router/src/lib.rs chat types, /info), not recorded",
        [
            models(m, m),
            {
                "method": "GET",
                "path": "/info",
                "status": 200,
                "json": {
                    "model_id": m,
                    "model_sha": None,
                    "model_pipeline_tag": "text-generation",
                    "max_concurrent_requests": 128,
                    "max_best_of": 2,
                    "max_stop_sequences": 4,
                    "max_input_tokens": 1024,
                    "max_total_tokens": 2048,
                    "validation_workers": 2,
                    "max_client_batch_size": 4,
                    "router": "text-generation-router",
                    "version": "3.3.4",
                    "sha": None,
                },
            },
            {
                "method": "POST",
                "path": "/v1/chat/completions",
                "status": 200,
                "sse": chat_events(m, with_bytes=False),
            },
            {
                "method": "POST",
                "path": "/tokenize",
                "status": 200,
                "json": [
                    {"id": 504, "text": "The", "start": 0, "stop": 3},
                    {"id": 3575, "text": " capital", "start": 3, "stop": 11},
                ],
            },
        ],
    )
    # Ollama >= 0.12.11: owned_by "library", /api/version, OpenAI-style logprobs.
    m = "smollm2:135m"
    write(
        "ollama/chat.json",
        "constructed from Ollama docs (OpenAI compatibility, /api/version) and ollama-python #601, not recorded",
        [
            models(m, "library"),
            {"method": "GET", "path": "/api/version", "status": 200, "json": {"version": "0.12.11"}},
            {
                "method": "POST",
                "path": "/v1/chat/completions",
                "status": 200,
                "sse": chat_events(m, role_chunk=False),
            },
        ],
    )
    write(
        "ollama/old.json",
        "constructed: an Ollama older than 0.12.11 (no logprobs), not recorded",
        [
            models(m, "library"),
            {"method": "GET", "path": "/api/version", "status": 200, "json": {"version": "0.9.6"}},
        ],
    )
    # OpenAI: owned_by "system"; logprobs.content entries with bytes; top_logprobs 0-20.
    m = "gpt-4o-mini"
    write(
        "openai/chat.json",
        "constructed from the OpenAI API reference (chat completion chunk object), not recorded",
        [
            models(m, "system"),
            {"method": "POST", "path": "/v1/chat/completions", "status": 200, "sse": chat_events(m)},
        ],
    )
    write(
        "unknown/chat.json",
        "constructed: an OpenAI-compatible server of no known kind, not recorded",
        [
            models("some-model", "acme"),
            {
                "method": "POST",
                "path": "/v1/chat/completions",
                "status": 200,
                "sse": chat_events("some-model"),
            },
        ],
    )
    assert math.isclose(sum(1 for _ in REPLY), 5)


if __name__ == "__main__":
    main()
