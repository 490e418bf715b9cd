"""The one place that talks to transformers' KV cache, whose API moved inside 5.x.

In transformers 5.24 a model's forward takes ``cache=`` (``past_key_values=`` still works
with a deprecation warning until 5.40), and ``Cache.crop`` takes a *negative* count of
tokens to drop. Everything else in the engine goes through :class:`KVCache`.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import DynamicCache, PreTrainedModel


def _forward_keywords(model: PreTrainedModel) -> tuple[str, bool]:
    """The cache keyword this model's forward takes, and whether it takes ``logits_to_keep``."""
    params = inspect.signature(model.forward).parameters
    keyword = "cache" if "cache" in params else "past_key_values"
    return keyword, "logits_to_keep" in params


class KVCache:
    """The keys and values of a prefix of tokens, for one sequence (batch size 1)."""

    def __init__(self, model: PreTrainedModel) -> None:
        self._model = model
        self._keyword, self._keep_last_only = _forward_keywords(model)
        self._cache = DynamicCache(config=model.config)
        self.length = 0  # how many tokens' keys/values it holds

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Run ``input_ids`` (shape [1, n]) after the cached prefix; logits of the last position."""
        kwargs: dict[str, Any] = {self._keyword: self._cache, "use_cache": True}
        if self._keep_last_only:  # skip the vocabulary projection for all but the last position
            kwargs["logits_to_keep"] = 1
        output = self._model(input_ids=input_ids, **kwargs)
        self.length += input_ids.shape[1]
        return output.logits[0, -1]

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` tokens' keys and values."""
        if length >= self.length:
            return
        if length <= 0:
            self.clear()
            return
        try:
            self._cache.crop(-(self.length - length))
        except (NotImplementedError, ValueError, AttributeError):
            # Caches that cannot drop tokens (some sliding-window or recurrent layers): start over.
            self.clear()
            return
        self.length = length

    def clear(self) -> None:
        self._cache = DynamicCache(config=self._model.config)
        self.length = 0
