"""Where sibling replies part, and where in a reply a piece of text lies. Pure Python.

Two replies to the same message are siblings. A reply continued from a token with another
candidate (1-9 on a token) copies the tokens before that token, so the two share a prefix
and part at one token: the fork. A regenerated reply usually parts at token 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.conversation import Conversation, Turn
from workbench.engine.steps import Candidate, TokenStep


def fork_index(a: Sequence[TokenStep], b: Sequence[TokenStep]) -> int | None:
    """The index of the first token where ``a`` and ``b`` differ (None: the same tokens).

    When one is a prefix of the other, the fork is the first token only the longer has."""
    shared = 0
    for step_a, step_b in zip(a, b, strict=False):
        if step_a.token_id != step_b.token_id:
            break
        shared += 1
    if shared == len(a) == len(b):
        return None
    return shared


def reply_siblings(conversation: Conversation, turn_id: int) -> list[Turn]:
    """The replies that answer the same message as ``turn_id``, itself included, in order."""
    turn = conversation.turns.get(turn_id)
    if turn is None or not turn.is_reply:
        return []
    return [conversation.turns[i] for i in conversation.siblings(turn_id) if conversation.turns[i].is_reply]


def forks(conversation: Conversation, turn_id: int) -> dict[int, list[int]]:
    """Token index in ``turn_id`` -> the sibling replies (1-based positions) that part from it there.

    Only forks at a token ``turn_id`` has; siblings need their steps loaded."""
    turn = conversation.turns[turn_id]
    siblings = reply_siblings(conversation, turn_id)
    out: dict[int, list[int]] = {}
    for position, other in enumerate(siblings, start=1):
        if other is turn or not other.steps or not turn.steps:
            continue
        index = fork_index(turn.steps, other.steps)
        if index is not None and index < len(turn.steps):
            out.setdefault(index, []).append(position)
    return out


def fork_note(positions: Sequence[int], count: int) -> str:
    """ "fork: branch 2/3" or "fork: branches 2/3, 3/3" for the branches parting at a token."""
    if not positions:
        return ""
    word = "branch" if len(positions) == 1 else "branches"
    return f"fork: {word} " + ", ".join(f"{p}/{count}" for p in positions)


@dataclass(frozen=True)
class Comparison:
    """Two sibling replies from their fork: the shared tokens once, then each one's own.

    ``fork`` is None when the two are the same token for token (or have no tokens)."""

    left: Turn
    right: Turn
    fork: int | None

    @property
    def prefix(self) -> list[TokenStep]:
        end = self.fork if self.fork is not None else len(self.left.steps)
        return list(self.left.steps[:end])

    def continuation(self, side: Turn) -> list[TokenStep]:
        return list(side.steps[self.fork :]) if self.fork is not None else []

    def fork_step(self, side: Turn) -> TokenStep | None:
        """The token ``side`` took at the fork (None: it ended before it)."""
        if self.fork is None or self.fork >= len(side.steps):
            return None
        return side.steps[self.fork]

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The distribution at the fork, as the left reply recorded it (else the right)."""
        for side in (self.left, self.right):
            step = self.fork_step(side)
            if step is not None:
                return step.candidates
        return ()


def compare(left: Turn, right: Turn) -> Comparison:
    fork = fork_index(left.steps, right.steps) if left.steps and right.steps else None
    return Comparison(left, right, fork)


def token_at(steps: Sequence[TokenStep], offset: int) -> int | None:
    """The index of the token whose text holds character ``offset`` of the joined text."""
    position = 0
    for index, step in enumerate(steps):
        position += len(step.text)
        if offset < position:
            return index
    return len(steps) - 1 if steps else None


def match_offset(text: str, search: str) -> int | None:
    """Where the first word of a session search (words as the full-text search splits them,
    a word matching at the start of a word, case-insensitively) first occurs in ``text``."""
    words = re.findall(r"\w+", search)
    if not words:
        return None
    found = re.search(r"(?<!\w)" + re.escape(words[0]), text, re.IGNORECASE)
    return found.start() if found else None
