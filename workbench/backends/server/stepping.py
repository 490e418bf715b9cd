"""One next-token distribution over the network: a token-id prefix in, the server's top-k out.

Step mode and branches need the distribution after an exact token sequence, so the prompt
goes as token ids with ``max_tokens: 1``: /v1/completions for vLLM and llama.cpp (both take a
list of ids as ``prompt``), SGLang's native /generate (``input_ids``, ``top_logprobs_num``).
Servers that take only text (TGI, Ollama, OpenAI) cannot do this; the backend's
capabilities say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.backends.server import logprobs as lp
from workbench.backends.server.client import HttpClient
from workbench.backends.server.errors import ServerError
from workbench.backends.server.requests import completion_body, sglang_generate_body
from workbench.backends.server.semantics import Semantics
from workbench.engine.steps import Candidate
from workbench.engine.tokens import bytes_label


@dataclass(frozen=True, slots=True)
class ServerDistribution:
    """The server's top-k after a prefix, and the token it drew there (under the settings sent)."""

    candidates: tuple[Candidate, ...]
    sampled: Candidate | None
    semantics: Semantics
    entropy: float = math.nan  # a server gives only the top-k: never computed from it


def distribution(
    client: HttpClient,
    semantics: Semantics,
    model: str,
    prefix_ids: Sequence[int],
    top_k: int,
    settings: Any,
    post_sampling: bool = False,
    labeler: lp.Labeler | None = None,
) -> ServerDistribution:
    if not semantics.token_id_prompts:
        raise ServerError(
            f"this server ({semantics.kind}) takes text prompts only, so it cannot give the "
            "distribution after an exact token sequence",
            kind="unsupported",
        )
    if not prefix_ids:
        raise ServerError("the prefix is empty: a step needs at least one token", kind="unsupported")
    if semantics.kind == "sglang":
        answer = client.post_json("/generate", sglang_generate_body(prefix_ids, settings, top_k))
        return _from_sglang(semantics, answer)
    body = completion_body(semantics, model, prefix_ids, settings, top_k, post_sampling, stream=False)
    body["max_tokens"] = 1
    body.pop("stop", None)
    answer = client.post_json(client.endpoint.api + "/completions", body)
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ServerError("the server's completion answer has no choices", kind="malformed")
    found = lp.entries(choices[0].get("logprobs"))
    if not found:
        raise ServerError("the server's completion answer has no logprobs", kind="malformed")
    labels: Mapping[int, str] = {}
    if labeler is not None:
        wanted = lp.missing_ids(found)
        if wanted:
            labels = labeler(wanted)
    entry = found[0]
    cands = lp.candidates(semantics, entry, labels)
    p, q = lp.place(semantics, entry.prob)
    sampled = Candidate(
        entry.token_id if entry.token_id is not None else -1, entry.label(labels), p, q, entry.kind
    )
    return ServerDistribution(cands, sampled, semantics)


def _from_sglang(semantics: Semantics, answer: Any) -> ServerDistribution:
    """meta_info.output_top_logprobs[0] = [[logprob, id, text], ...]; output_token_logprobs[0] the drawn one."""
    meta = answer.get("meta_info") if isinstance(answer, dict) else None
    if isinstance(answer, list) and answer:
        meta = answer[0].get("meta_info") if isinstance(answer[0], dict) else None
    if not isinstance(meta, dict):
        raise ServerError("SGLang's /generate answer has no meta_info", kind="malformed")
    tops = (meta.get("output_top_logprobs") or [[]])[0] or []
    drawn = (meta.get("output_token_logprobs") or [None])[0]

    def candidate(triple: Any) -> Candidate:
        if not isinstance(triple, list | tuple) or len(triple) < 2:
            raise ServerError("SGLang sent a malformed logprob triple", kind="malformed")
        logprob, token_id = triple[0], triple[1]
        text = triple[2] if len(triple) > 2 and isinstance(triple[2], str) else None
        prob = math.exp(float(logprob)) if logprob is not None else math.nan
        p, q = lp.place(semantics, prob)
        label = bytes_label(text.encode()) if text is not None else f"#{token_id}"
        return Candidate(int(token_id), label, p, q)

    return ServerDistribution(
        tuple(candidate(t) for t in tops), candidate(drawn) if drawn else None, semantics
    )
