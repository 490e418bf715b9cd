"""Text <-> token ids for a server's model: its own /tokenize and /detokenize where present,
else the local tokenizer of the same hub id when it is cached (never downloaded), else neither,
said plainly.

Routes: llama.cpp ``POST /tokenize {"content", "with_pieces"}`` -> ``{"tokens": [{"id", "piece"}]}``,
``POST /detokenize {"tokens"}`` -> ``{"content"}``, ``POST /apply-template {"messages"}`` ->
``{"prompt"}`` (tools/server/README.md); vLLM ``POST /tokenize {"model", "prompt"|"messages"}``
-> ``{"tokens"}``, ``POST /detokenize {"model", "tokens"}`` -> ``{"prompt"}``
(vllm/entrypoints/serve/tokenize); TGI ``POST /tokenize {"inputs"}`` -> ``[{"id", "text"}]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.backends.server.client import HttpClient
from workbench.backends.server.errors import ServerError
from workbench.backends.server.semantics import Semantics
from workbench.engine.tokens import bytes_label

NEITHER = (
    "this server has no /tokenize and /detokenize, and no local tokenizer for {model!r} is cached "
    "(looked up with local_files_only): neither is available"
)


@dataclass(frozen=True, slots=True)
class TokenPiece:
    token_id: int
    label: str  # whitespace visible, as the engine's TokenTable labels


class ServerTokenizer:
    """The server's tokenizer routes, or a cached local tokenizer of the same model id."""

    def __init__(self, client: HttpClient, semantics: Semantics, model: str) -> None:
        self.client = client
        self.semantics = semantics
        self.model = model
        self._local: Any = None
        self._looked_locally = False
        self._labels: dict[int, str] = {}

    @property
    def source(self) -> str | None:
        """``server``, ``local`` or None (neither)."""
        if self.semantics.kind in ("llamacpp", "vllm", "tgi"):
            return "server"
        return "local" if self._local_tokenizer() is not None else None

    @property
    def reason(self) -> str | None:
        return None if self.source else NEITHER.format(model=self.model)

    def tokenize(self, text: str, add_special: bool = False) -> list[TokenPiece]:
        kind = self.semantics.kind
        if kind == "llamacpp":
            answer = self.client.post_json(
                "/tokenize", {"content": text, "add_special": add_special, "with_pieces": True}
            )
            return [_llamacpp_piece(t) for t in _list(answer, "tokens")]
        if kind == "vllm":
            answer = self.client.post_json(
                "/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": add_special}
            )
            ids = [int(i) for i in _list(answer, "tokens")]
            labels = self.labels(set(ids))
            return [TokenPiece(i, labels[i]) for i in ids]
        if kind == "tgi":
            answer = self.client.post_json("/tokenize", {"inputs": text, "add_special_tokens": add_special})
            if not isinstance(answer, list):
                raise ServerError("TGI's /tokenize answer is not a list", kind="malformed")
            return [TokenPiece(int(t["id"]), bytes_label(str(t.get("text", "")).encode())) for t in answer]
        local = self._require_local()
        ids = local.encode(text, add_special_tokens=add_special)
        return [TokenPiece(int(i), bytes_label(local.decode([i]).encode())) for i in ids]

    def detokenize(self, ids: Sequence[int]) -> str:
        kind = self.semantics.kind
        ids = [int(i) for i in ids]
        if kind == "llamacpp":
            answer = self.client.post_json("/detokenize", {"tokens": ids})
            return _string(answer, "content")
        if kind == "vllm":
            answer = self.client.post_json("/detokenize", {"model": self.model, "tokens": ids})
            return _string(answer, "prompt")
        local = self._require_local()
        return str(local.decode(ids))

    def labels(self, ids: set[int]) -> Mapping[int, str]:
        """Labels for token ids (cached): for tokens a server sent by id only (vLLM)."""
        missing = sorted(ids - self._labels.keys())
        # the server's own /detokenize first: the local fallback imports transformers
        has_routes = self.semantics.kind in ("llamacpp", "vllm")
        local = self._local_tokenizer() if missing and not has_routes else None
        for token_id in missing:
            if local is not None:
                text = str(local.decode([token_id]))
            else:
                text = self.detokenize([token_id])
            self._labels[token_id] = bytes_label(text.encode())
        return {i: self._labels[i] for i in ids}

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """The chat-templated prompt as the server's own template renders it, as ids (for step mode)."""
        kind = self.semantics.kind
        if kind == "llamacpp":
            prompt = _string(
                self.client.post_json("/apply-template", {"messages": [dict(m) for m in messages]}), "prompt"
            )
            # as llama-server tokenizes a chat prompt: specials added and parsed
            answer = self.client.post_json(
                "/tokenize", {"content": prompt, "add_special": True, "parse_special": True}
            )
            return [int(t) for t in _list(answer, "tokens")]
        if kind == "vllm":
            answer = self.client.post_json(
                "/tokenize",
                {"model": self.model, "messages": [dict(m) for m in messages], "add_generation_prompt": True},
            )
            return [int(i) for i in _list(answer, "tokens")]
        local = self._require_local()
        text = local.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
        )
        return [int(i) for i in local.encode(text, add_special_tokens=False)]

    # --- the local fallback -----------------------------------------------------------

    def _local_tokenizer(self) -> Any:
        if not self._looked_locally:
            self._looked_locally = True
            try:
                from transformers import AutoTokenizer  # lazily: only when the server has no routes

                self._local = AutoTokenizer.from_pretrained(self.model, local_files_only=True)
            except Exception:  # noqa: BLE001 - not cached, not a hub id, or no transformers: "neither"
                self._local = None
        return self._local

    def _require_local(self) -> Any:
        local = self._local_tokenizer()
        if local is None:
            raise ServerError(NEITHER.format(model=self.model), kind="unsupported")
        return local


def _llamacpp_piece(item: Any) -> TokenPiece:
    if isinstance(item, int):
        return TokenPiece(item, f"#{item}")
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise ServerError("llama.cpp's /tokenize sent a malformed token", kind="malformed")
    piece = item.get("piece", "")
    raw = bytes(piece) if isinstance(piece, list) else str(piece).encode()
    return TokenPiece(int(item["id"]), bytes_label(raw))


def _list(answer: Any, key: str) -> list[Any]:
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, list):
        raise ServerError(f"the server's answer has no {key!r} list", kind="malformed")
    return value


def _string(answer: Any, key: str) -> str:
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, str):
        raise ServerError(f"the server's answer has no {key!r} text", kind="malformed")
    return value
