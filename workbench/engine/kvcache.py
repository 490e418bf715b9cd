"""The one place that talks to transformers' KV cache, whose API moved inside 5.x.

In transformers 5.24 a model's forward takes ``cache=`` (``past_key_values=`` still works
with a deprecation warning until 5.40), and ``Cache.crop`` takes a *negative* count of
tokens to drop. Everything else in the engine goes through :class:`KVCache`.

Going back (rewind, branch) crops the cache, and not every cache layer can be cropped to
every length. What transformers 5.24 does with a sliding-window layer
(``DynamicSlidingWindowLayer``: Gemma 2/3, Mistral), once the sequence has reached its window:

- By default it keeps only the last ``window - 1`` tokens' keys, and ``crop`` raises
  ``RuntimeError`` (its ``is_croppable`` still says True).
- After ``activate_past_recording()`` it keeps every key until the next ``crop``, which then
  cuts back to the last ``window - 1`` before the new end. A later crop to a length below
  that point silently gives a wrong cache (it slices what is left; the next forward pass
  either returns wrong logits or fails on a shape mismatch).

So this adapter records the past, checks before each crop that every layer still holds
the keys the shorter prefix needs (:meth:`KVCache.reusable`), and otherwise starts over:
the next forward pass recomputes the whole prefix. It never crops a layer type it does not
know, and never lets a crop's error through. The price of recording: between crops a
sliding-window layer keeps the keys of the whole sequence, as a full-attention layer does.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import DynamicCache, PreTrainedModel
from transformers.cache_utils import DummyLayer, DynamicLayer, DynamicSlidingWindowLayer


def _forward_keywords(model: PreTrainedModel) -> tuple[str, bool]:
    """The cache keyword this model's forward takes, and whether it takes ``logits_to_keep``."""
    params = inspect.signature(model.forward).parameters
    keyword = "cache" if "cache" in params else "past_key_values"
    return keyword, "logits_to_keep" in params


def _layer_can_crop_to(layer: Any, length: int) -> bool:
    """Whether cropping ``layer`` to its first ``length`` tokens leaves exactly their keys.

    Only layer types whose crop was read and tested (transformers 5.24) say yes.
    """
    kind = type(layer)
    if kind is DynamicLayer or kind is DummyLayer:  # DummyLayer holds nothing (KV sharing)
        return True
    if kind is not DynamicSlidingWindowLayer:
        return False
    if not layer.is_initialized or layer.cumulative_length < layer.sliding_window:
        return True  # below the window it holds every key, like a full-attention layer
    if not getattr(layer, "record_past", False):
        return False  # crop would raise
    # It holds the keys of positions [first, cumulative_length); the prefix needs those of
    # [length - window + 1, length) (all of them when the prefix is shorter than the window).
    first = layer.cumulative_length - layer.keys.shape[-2]
    return first == 0 or length - layer.sliding_window + 1 >= first


class KVCache:
    """The keys and values of a prefix of tokens, for one sequence (batch size 1)."""

    def __init__(self, model: PreTrainedModel) -> None:
        self._model = model
        self._keyword, self._keep_last_only = _forward_keywords(model)
        self._cache = self._new_cache()
        self.length = 0  # how many tokens' keys/values it holds

    def _new_cache(self) -> DynamicCache:
        cache = DynamicCache(config=self._model.config)
        # Sliding-window layers then keep old keys until the next crop, so going back can keep them.
        activate = getattr(cache, "activate_past_recording", None)
        if activate is not None:
            activate()
        return cache

    def reserve(self, total: int) -> None:
        """Room for ``total`` tokens: a dynamic cache grows by itself (see ``StaticKVCache``)."""

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Run ``input_ids`` (shape [1, n]) after the cached prefix; logits of the last position."""
        kwargs: dict[str, Any] = {self._keyword: self._cache, "use_cache": True}
        if self._keep_last_only:  # skip the vocabulary projection for all but the last position
            kwargs["logits_to_keep"] = 1
        output = self._model(input_ids=input_ids, **kwargs)
        self.length += input_ids.shape[1]
        return output.logits[0, -1]

    def reusable(self, length: int) -> int:
        """The longest prefix of at most ``length`` tokens this cache can be cut back to: ``length`` or 0."""
        length = max(0, min(length, self.length))
        if length == self.length:
            return length
        layers = getattr(self._cache, "layers", None)
        if not layers or not all(_layer_can_crop_to(layer, length) for layer in layers):
            return 0
        return length

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` tokens' keys and values, or start over where that is impossible."""
        if length >= self.length:
            return
        if length > 0 and self.reusable(length) == length:
            try:
                self._cache.crop(-(self.length - length))
                self.length = length
                return
            except Exception:  # noqa: BLE001 - a failed crop may leave layers half-cut: start over
                pass
        self.clear()  # the next forward pass recomputes the whole prefix

    def clear(self) -> None:
        self._cache = self._new_cache()
        self.length = 0
