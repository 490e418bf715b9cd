"""The records that flow from the engine to the UI and into storage. Pure Python, no torch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

ChosenBy = Literal["sample", "greedy", "user"]

# A value a backend does not give (a server returns p or q, never both, and no entropy) is
# NaN, never an invented number; a token a server names only by its text has id -1.
NOT_GIVEN = math.nan
NO_ID = -1


def given(value: float) -> bool:
    """Whether a probability or entropy was given (not NaN)."""
    return not math.isnan(value)


TokenKind = Literal["text", "bytes", "special"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible next token.

    ``p`` is the model's probability, ``softmax(logits)[token]``; ``q`` the probability the
    active sampling settings give it (0 when a warper cut it; one-hot for greedy). ``text``
    is the token's visible label (see ``tokens.TokenTable.label``).
    """

    token_id: int
    text: str
    p: float
    q: float
    kind: TokenKind = "text"

    @property
    def removed(self) -> bool:
        """Cut by the warpers (top-k, top-p, min-p): it can no longer be sampled."""
        return self.q == 0.0

    def to_list(self) -> list[Any]:
        return [self.token_id, self.text, self.p, self.q, self.kind]

    @classmethod
    def from_list(cls, data: list[Any]) -> Candidate:
        token_id, text, p, q, *rest = data
        return cls(int(token_id), str(text), float(p), float(q), rest[0] if rest else "text")


@dataclass(frozen=True, slots=True)
class TokenStep:
    """One generated token and the distribution it was chosen from.

    ``text`` is what the token added to the reply: UTF-8 safe, so it can be empty when the
    token holds the first bytes of a character that a later token completes.
    ``candidates`` are the top-k by model probability; the chosen token may lie outside them,
    which is why its own ``p``, ``q`` and ``rank`` are kept here.
    """

    index: int
    token_id: int
    label: str
    text: str
    p: float
    q: float
    rank: int
    entropy: float  # of p, in nats
    candidates: tuple[Candidate, ...]
    chosen_by: ChosenBy = "sample"
    kind: TokenKind = "text"
    is_end: bool = False

    @property
    def entropy_bits(self) -> float:
        return self.entropy / math.log(2)

    @property
    def logprob(self) -> float:
        return math.log(self.p) if self.p > 0 else float("-inf")
