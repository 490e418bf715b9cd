"""Which server is this, and what do its numbers mean? A :class:`Semantics` record per kind.

Every claim below comes from the server's own docs or source (cited beside it). Where the kind
cannot be told, the record says "unknown" rather than guess.

- vLLM: logprobs are raw (``softmax(logits)``) unless the server runs with
  ``--logprobs-mode processed_logprobs|processed_logits`` (ModelConfig.logprobs_mode, default
  ``raw_logprobs``; vllm/config/model.py); ``--max-logprobs`` caps k, default 20 ("the default
  for the OpenAI Chat Completions API"); ``return_tokens_as_token_ids`` makes each token
  ``"token_id:<id>"`` (vllm/entrypoints/openai/engine/serving.py ``_get_decoded_token``);
  chat takes ``continue_final_message`` with ``add_generation_prompt: false``
  (chat_completion/protocol.py); /v1/completions takes a list of token ids as ``prompt``;
  /tokenize and /detokenize at the server root.
- llama.cpp's llama-server: ``n_probs`` (OpenAI ``top_logprobs`` maps to it,
  tools/server/server-common.cpp), raw "via a simple softmax of the logits" by default,
  ``post_sampling_probs: true`` gives probabilities after the sampler chain as ``prob`` /
  ``top_probs`` (tools/server/README.md, server-task.cpp ``probs_vector_to_json``); every
  entry carries ``id``; /tokenize, /detokenize; token-id prompts; /v1/models ``owned_by:
  "llamacpp"`` (server-context.cpp).
- SGLang: ``top_logprobs_num`` on its native /generate, which returns ``[logprob, token_id,
  text]`` triples (python/sglang/srt/entrypoints/openai/serving_chat.py passes
  ``top_logprobs`` through as ``top_logprobs_num``); token-id prompts as ``input_ids``.
- TGI: ``top_n_tokens``, capped by ``--max-top-n-tokens`` (default 5, launcher/src/main.rs);
  its values come after the logits warpers (temperature, top-k/p).
- Ollama >= 0.12.11: ``logprobs`` / ``top_logprobs`` 0-20 on its OpenAI-compatible API
  (ollama-python #601 added the client side with that release); /v1/models ``owned_by:
  "library"``; /api/version.
- OpenAI: ``top_logprobs`` 0-20; the docs do not say before or after sampling: "unknown".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from workbench.backends.server.client import HttpClient

Probability = Literal["raw", "post-sampling", "unknown"]
KINDS = ("vllm", "llamacpp", "sglang", "tgi", "ollama", "openai", "unknown")
OLLAMA_LOGPROBS_SINCE = (0, 12, 11)


@dataclass(frozen=True, slots=True)
class Semantics:
    """What one server gives, and what its probabilities mean."""

    kind: str  # one of KINDS
    version: str | None
    probability: Probability  # raw -> the step's p; post-sampling -> its q
    top_k_cap: int | None  # the most candidates per token it returns; None: no known cap
    logprobs: bool  # gives per-token probabilities at all
    gives_ids: bool  # token ids come with each token of a chat reply (SGLang: only on /generate steps)
    token_id_prompts: bool  # /v1/completions (or its native route) takes a prompt of ids
    continue_final_message: bool  # chat can continue a partial assistant message
    tokenize: bool  # /tokenize and /detokenize
    source: str  # where these facts come from

    @property
    def label(self) -> str:
        """What the chart shows: ``p (server, raw)``, ``q (server, after sampling)`` or ``unknown``."""
        if self.probability == "raw":
            return "p (server, raw)"
        if self.probability == "post-sampling":
            return "q (server, after sampling)"
        return "unknown"

    @property
    def cap_label(self) -> str:
        return f"top {self.top_k_cap} max" if self.top_k_cap is not None else "no known cap"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["label"] = self.label
        return data


_DEFAULTS: dict[str, Semantics] = {
    "vllm": Semantics(
        "vllm",
        None,
        "raw",
        20,
        True,
        True,
        True,
        True,
        True,
        "vLLM: --logprobs-mode default raw_logprobs, --max-logprobs default 20 (vllm/config/model.py)",
    ),
    "llamacpp": Semantics(
        "llamacpp",
        None,
        "raw",
        None,
        True,
        True,
        True,
        False,
        True,
        "llama.cpp tools/server/README.md: n_probs raw softmax by default, post_sampling_probs after sampling",
    ),
    "sglang": Semantics(
        "sglang",
        None,
        "raw",
        None,
        True,
        True,
        True,
        False,
        False,
        "SGLang: /generate top_logprobs_num returns [logprob, token_id, text] (srt/entrypoints)",
    ),
    "tgi": Semantics(
        "tgi",
        None,
        "post-sampling",
        5,
        True,
        False,
        False,
        False,
        True,
        "TGI: top_n_tokens capped by --max-top-n-tokens (default 5), values after the warpers",
    ),
    "ollama": Semantics(
        "ollama",
        None,
        "unknown",
        20,
        True,
        False,
        False,
        False,
        False,
        "Ollama >= 0.12.11: top_logprobs 0-20 on the OpenAI-compatible API",
    ),
    "openai": Semantics(
        "openai",
        None,
        "unknown",
        20,
        True,
        False,
        False,
        False,
        False,
        "OpenAI API reference: top_logprobs 0-20; before/after sampling is not documented",
    ),
    "unknown": Semantics(
        "unknown",
        None,
        "unknown",
        None,
        True,
        False,
        False,
        False,
        False,
        "not recognised: the probabilities' meaning is unknown",
    ),
}

_OWNED_BY = {"llamacpp": "llamacpp", "vllm": "vllm", "sglang": "sglang", "library": "ollama", "tgi": "tgi"}


def semantics_for(kind: str, version: str | None = None) -> Semantics:
    """The documented defaults for ``kind`` (``unknown`` for anything else)."""
    base = _DEFAULTS.get(kind, _DEFAULTS["unknown"])
    if kind == "ollama" and version is not None and _version_tuple(version) < OLLAMA_LOGPROBS_SINCE:
        base = replace(
            base, logprobs=False, top_k_cap=0, source=base.source + f"; this server is {version}, older"
        )
    return replace(base, version=version)


def with_probability(semantics: Semantics, probability: Probability) -> Semantics:
    """The same server, with probabilities known to be ``probability`` (a setting the server runs
    with that its API does not show, e.g. vLLM ``--logprobs-mode processed_logprobs``)."""
    return replace(semantics, probability=probability)


def detect(client: HttpClient, models: Any) -> Semantics:
    """Tell the server's kind from its /v1/models answer, then from a few identifying routes."""
    kind = _kind_from_models(models)
    if client.endpoint.host in ("api.openai.com",):
        kind = "openai"
    version: str | None = None
    if kind in (None, "llamacpp"):
        status, props = client.probe("/props")
        if (
            status == 200
            and isinstance(props, dict)
            and ("default_generation_settings" in props or "build_info" in props)
        ):
            kind = "llamacpp"
            version = _string(props.get("build_info"))
    if kind in (None, "ollama"):
        status, answer = client.probe("/api/version")
        if status == 200 and isinstance(answer, dict) and "version" in answer:
            kind, version = "ollama", _string(answer.get("version"))
    if kind in (None, "tgi"):
        status, info = client.probe("/info")
        if status == 200 and isinstance(info, dict) and "model_id" in info:
            kind, version = "tgi", _string(info.get("version"))
            cap = info.get("max_top_n_tokens")
            if isinstance(cap, int):
                return replace(semantics_for(kind, version), top_k_cap=cap)
    if kind in (None, "sglang"):
        for route in ("/get_server_info", "/server_info"):
            status, info = client.probe(route)
            if status == 200 and isinstance(info, dict):
                kind, version = "sglang", _string(info.get("version"))
                break
    if kind in (None, "vllm"):
        status, answer = client.probe("/version")
        if status == 200 and isinstance(answer, dict) and "version" in answer:
            kind, version = "vllm", _string(answer.get("version"))
    return semantics_for(kind or "unknown", version)


def _kind_from_models(models: Any) -> str | None:
    data = models.get("data") if isinstance(models, dict) else None
    if not isinstance(data, list):
        return None
    for entry in data:
        if isinstance(entry, dict):
            owner = str(entry.get("owned_by", "")).lower()
            if owner in _OWNED_BY:
                return _OWNED_BY[owner]
            if owner in ("openai", "system", "openai-internal"):
                return "openai"
    return None


def _string(value: Any) -> str | None:
    return str(value) if value is not None else None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])
