"""Per-token probabilities as servers send them -> :class:`Entry` -> ``Candidate`` records.

Three shapes arrive:
- chat style (OpenAI chat, vLLM, llama.cpp on both routes, Ollama, TGI):
  ``{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}``; llama.cpp adds
  ``"id"``, and with ``post_sampling_probs`` sends ``"prob"``/``"top_probs"`` instead;
- legacy completions (vLLM /v1/completions): ``{"tokens": [...], "token_logprobs": [...],
  "top_logprobs": [{token: logprob}, ...]}``;
- vLLM with ``return_tokens_as_token_ids``: token strings ``"token_id:<id>"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.backends.server.errors import ServerError
from workbench.backends.server.semantics import Semantics
from workbench.engine.steps import Candidate, TokenKind
from workbench.engine.tokens import bytes_label

_ID_PREFIX = "token_id:"
NAN = math.nan


EMPTY_LABEL = "∅"  # a token the server sent with no text: shown, not blank


@dataclass(frozen=True, slots=True)
class Entry:
    """One token a server reported: its text (when given), id (when given), bytes, probability."""

    token: str | None
    token_id: int | None
    raw: bytes | None
    prob: float
    tops: tuple[Entry, ...] = ()

    def label(self, labels: Mapping[int, str] | None = None) -> str:
        if self.kind == "special":
            return EMPTY_LABEL
        if self.raw is not None:
            return bytes_label(self.raw)
        if self.token is not None:
            return bytes_label(self.token.encode("utf-8", "surrogatepass"))
        if self.token_id is not None and labels and self.token_id in labels:
            return labels[self.token_id]
        return f"#{self.token_id}" if self.token_id is not None else "?"

    @property
    def kind(self) -> TokenKind:
        # no text at all: a control token (llama.cpp renders <|im_end|> and the like as "")
        if (self.raw == b"" or (self.raw is None and self.token == "")) and self.prob >= 0:
            return "special"
        if self.raw is not None:
            try:
                self.raw.decode("utf-8")
            except UnicodeDecodeError:
                return "bytes"
        return "text"


def _probability(item: Mapping[str, Any]) -> float:
    if "prob" in item:  # llama.cpp post_sampling_probs
        return _number(item["prob"])
    value = item.get("logprob")
    if value is None:
        return NAN
    number = _number(value)
    return math.exp(number) if number > -1e30 else 0.0  # llama.cpp sends float lowest for p = 0


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ServerError(f"the server sent a malformed probability: {value!r}", kind="malformed")
    return float(value)


def _token_and_id(token: Any, token_id: Any) -> tuple[str | None, int | None]:
    text = token if isinstance(token, str) else None
    tid = token_id if isinstance(token_id, int) and not isinstance(token_id, bool) else None
    if text is not None and text.startswith(_ID_PREFIX) and text[len(_ID_PREFIX) :].isdigit():
        return None, int(text[len(_ID_PREFIX) :])  # vLLM return_tokens_as_token_ids
    return text, tid


def _raw_bytes(value: Any, token: str | None) -> bytes | None:
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value) if (value or token == "") else None
    return None


def _entry(item: Any) -> Entry:
    if not isinstance(item, Mapping):
        raise ServerError(f"the server sent a malformed logprobs entry: {item!r:.80}", kind="malformed")
    token, token_id = _token_and_id(item.get("token"), item.get("id"))
    raw = _raw_bytes(item.get("bytes"), token)
    if raw is not None and token is None and str(item.get("token", "")).startswith(_ID_PREFIX):
        raw = None  # vLLM's bytes are then those of the "token_id:N" string
    tops_source = item.get("top_probs", item.get("top_logprobs")) or []
    if not isinstance(tops_source, list):
        raise ServerError("the server sent malformed top_logprobs", kind="malformed")
    tops = tuple(_entry(t) for t in tops_source)
    return Entry(token, token_id, raw, _probability(item), tops)


def entries(logprobs: Any) -> list[Entry]:
    """Every token entry in one choice's ``logprobs`` (any of the shapes above)."""
    if not logprobs:
        return []
    if not isinstance(logprobs, Mapping):
        raise ServerError("the server sent malformed logprobs", kind="malformed")
    content = logprobs.get("content")
    if isinstance(content, list):
        return [_entry(item) for item in content]
    tokens = logprobs.get("tokens")
    if isinstance(tokens, list):  # legacy completions
        values = logprobs.get("token_logprobs") or [None] * len(tokens)
        tops = logprobs.get("top_logprobs") or [None] * len(tokens)
        found = []
        for token, value, top in zip(tokens, values, tops, strict=False):
            text, tid = _token_and_id(token, None)
            top_entries = []
            for key, lp in (top or {}).items():
                ttext, ttid = _token_and_id(key, None)
                top_entries.append(Entry(ttext, ttid, None, _probability({"logprob": lp})))
            top_entries.sort(key=lambda e: -e.prob)
            found.append(Entry(text, tid, None, _probability({"logprob": value}), tuple(top_entries)))
        return found
    return []


def place(semantics: Semantics, value: float) -> tuple[float, float]:
    """(p, q): the server's value where its semantics put it, NaN for the one it does not give.
    "unknown" goes into p, with the label saying it is unknown."""
    if semantics.probability == "post-sampling":
        return NAN, value
    return value, NAN


def candidates(
    semantics: Semantics, entry: Entry, labels: Mapping[int, str] | None = None
) -> tuple[Candidate, ...]:
    found = []
    for top in entry.tops:
        p, q = place(semantics, top.prob)
        tid = top.token_id if top.token_id is not None else -1
        found.append(Candidate(tid, top.label(labels), p, q, top.kind))
    return tuple(found)


def rank_of(entry: Entry) -> int:
    """1-based rank of the chosen token among the server's candidates; 0 when it is not among them."""
    for n, top in enumerate(entry.tops, start=1):
        if entry.token_id is not None and top.token_id == entry.token_id:
            return n
        if entry.token_id is None and entry.token is not None and top.token == entry.token:
            return n
    return 0


def missing_ids(found: list[Entry]) -> set[int]:
    """Ids that arrived without text (vLLM's ``token_id:N``): the labeler names them."""
    ids = set()
    for entry in found:
        for item in (entry, *entry.tops):
            if item.token is None and item.raw is None and item.token_id is not None:
                ids.add(item.token_id)
    return ids


Labeler = Callable[[set[int]], Mapping[int, str]]
