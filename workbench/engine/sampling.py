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


class Sampler:
    """Applies one set of sampling settings: warps logits into ``q`` and draws from it."""

    def __init__(self, settings: SamplingSettings | None = None) -> None:
        self.settings = settings or SamplingSettings()
        self.processors = build_processors(self.settings)
        self._generator: torch.Generator | None = None

    @property
    def needs_input_ids(self) -> bool:
        return self.settings.repetition_penalty != 1.0

    def sampling_probabilities(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``q`` over the whole vocabulary, from the raw last-position ``logits`` (shape [vocab]).

        For greedy decoding ``q`` is one-hot at the argmax of the processed scores.
        """
        scores = self.processors(input_ids, logits.unsqueeze(0).clone())[0] if self.processors else logits
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
        return torch.multinomial(q, num_samples=1, generator=self._generator_for(q.device))[0]

    def _generator_for(self, device: torch.device) -> torch.Generator | None:
        if self.settings.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.settings.seed)
        return self._generator
