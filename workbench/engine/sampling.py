"""SamplingSettings -> transformers' own logits processors, and the choice of a token.

We use transformers' public warpers, in the order ``generate()`` builds them
(``GenerationMixin._get_logits_processor``), so ``q`` is the distribution ``generate``
would sample from with the same settings.
"""

from __future__ import annotations

import torch
from transformers import (
    LogitsProcessorList,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from workbench.engine.settings import SamplingSettings


def build_processors(settings: SamplingSettings) -> LogitsProcessorList:
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(penalty=settings.repetition_penalty))
    if settings.greedy:
        return processors  # the warpers only apply when sampling
    if settings.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_k != 0:
        processors.append(TopKLogitsWarper(top_k=settings.top_k))
    if settings.top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=settings.top_p))
    if settings.min_p > 0.0:
        processors.append(MinPLogitsWarper(min_p=settings.min_p))
    return processors


class _SeededStream:
    """The random stream of one seed: its generator, made on first use (on the device of ``q``).

    Shared by every :class:`Sampler` derived with :meth:`Sampler.with_settings` while the seed
    stays the same, so changing temperature or top-p mid-reply does not restart the draws.
    Used only on the thread that samples.
    """

    __slots__ = ("_generator", "seed")

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._generator: torch.Generator | None = None

    def generator(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None  # torch's global stream
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator


class Sampler:
    """Applies one set of sampling settings: warps logits into ``q`` and draws from it.

    ``Sampler(settings)`` starts a new random stream; ``sampler.with_settings(other)`` applies
    other settings and keeps drawing from the same stream (the same seed's generator).
    """

    def __init__(
        self, settings: SamplingSettings | None = None, *, _stream: _SeededStream | None = None
    ) -> None:
        self.settings = settings or SamplingSettings()
        self.processors = build_processors(self.settings)
        self._stream = _stream if _stream is not None else _SeededStream(self.settings.seed)

    def with_settings(self, settings: SamplingSettings) -> Sampler:
        """A sampler for ``settings`` that keeps drawing from this one's seeded stream.

        Only a different seed starts a new stream (from that seed).
        """
        if settings == self.settings:
            return self
        same_seed = settings.seed == self.settings.seed
        return Sampler(settings, _stream=self._stream if same_seed else None)

    @property
    def needs_input_ids(self) -> bool:
        return self.settings.repetition_penalty != 1.0

    def sampling_probabilities(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``q`` over the whole vocabulary, from the raw last-position ``logits`` (shape [vocab]).

        For greedy decoding ``q`` is one-hot at the argmax of the processed scores.
        """
        scores = logits
        if self.processors:  # (transformers types input_ids as the legacy torch.LongTensor class)
            scores = self.processors(input_ids, logits.unsqueeze(0).clone())[0]  # type: ignore[arg-type]
        if self.settings.greedy:
            q = torch.zeros_like(scores)
            q[scores.argmax()] = 1.0
            return q
        return torch.softmax(scores, dim=-1)

    def choose(self, q: torch.Tensor) -> torch.Tensor:
        """A token id drawn from ``q`` (a 0-d tensor, left on the device): argmax when greedy."""
        if self.settings.greedy:
            return q.argmax()
        # The same draw generate() makes; a seeded generator makes runs reproducible.
        return torch.multinomial(q, num_samples=1, generator=self._stream.generator(q.device))[0]
