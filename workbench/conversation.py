"""A conversation as a tree of turns: the model behind the chat view. Pure Python.

Plain chat appends to the active leaf. Regenerating a reply or editing a user message adds
a sibling instead of discarding the old turn, so every alternative stays reachable; the
path from the root to ``leaf`` is what is shown and sent to the model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from workbench.engine.steps import TokenStep

# Turns not (yet) stored get negative ids, unique in the process: a reply still being saved
# after a new chat started must never share an id with a turn of the new chat.
_LOCAL_IDS = itertools.count(-1, -1)

Role = str  # "system" | "user" | "assistant"


@dataclass(slots=True)
class Turn:
    id: int
    role: Role
    content: str
    parent: int | None
    status: str = "complete"  # complete | stopped | error | streaming
    steps: list[TokenStep] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] | None = None
    error: str | None = None

    @property
    def is_reply(self) -> bool:
        return self.role == "assistant"


class Conversation:
    def __init__(self) -> None:
        self.turns: dict[int, Turn] = {}
        self.children: dict[int | None, list[int]] = {}
        self.leaf: int | None = None
        self._last_visited: dict[int | None, int] = {}  # parent -> the child last shown

    def __len__(self) -> int:
        return len(self.path())

    # --- building -----------------------------------------------------------------

    def add(
        self,
        role: Role,
        content: str,
        parent: int | None | Literal["leaf"] = "leaf",
        turn_id: int | None = None,
        **fields: Any,
    ) -> Turn:
        """Add a turn under ``parent`` (default: the current leaf) and make it the leaf."""
        parent_id = self.leaf if isinstance(parent, str) else parent  # (str: only "leaf")
        if turn_id is None:
            turn_id = next(_LOCAL_IDS)
        turn = Turn(turn_id, role, content, parent_id, **fields)
        self.turns[turn_id] = turn
        self.children.setdefault(parent_id, []).append(turn_id)
        self._last_visited[parent_id] = turn_id
        self.leaf = turn_id
        return turn

    def rekey(self, old_id: int, new_id: int) -> None:
        """Give a turn its permanent (stored) id."""
        if old_id == new_id:
            return
        turn = self.turns.pop(old_id)
        turn.id = new_id
        self.turns[new_id] = turn
        siblings = self.children[turn.parent]
        siblings[siblings.index(old_id)] = new_id
        for child_id in self.children.pop(old_id, []):
            self.turns[child_id].parent = new_id
            self.children.setdefault(new_id, []).append(child_id)
        if old_id in self._last_visited:
            self._last_visited[new_id] = self._last_visited.pop(old_id)
        for parent, child in list(self._last_visited.items()):
            if child == old_id:
                self._last_visited[parent] = new_id
        if self.leaf == old_id:
            self.leaf = new_id

    # --- reading ------------------------------------------------------------------

    def path(self, leaf: int | None | Literal["leaf"] = "leaf") -> list[Turn]:
        """Root-to-leaf turns of the active branch (or of the branch ending at ``leaf``)."""
        node = self.leaf if isinstance(leaf, str) else leaf  # (str: only "leaf")
        turns: list[Turn] = []
        while node is not None:
            turn = self.turns[node]
            turns.append(turn)
            node = turn.parent
        return turns[::-1]

    def chat_messages(self, system_prompt: str = "", upto: int | None = None) -> list[dict[str, str]]:
        """The active branch in the ``{"role", "content"}`` format ``apply_chat_template`` takes."""
        messages = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
        for turn in self.path(upto if upto is not None else "leaf"):
            if turn.status == "streaming" and not turn.content:
                continue
            messages.append({"role": turn.role, "content": turn.content})
        return messages

    def last(self, role: Role) -> Turn | None:
        for turn in reversed(self.path()):
            if turn.role == role:
                return turn
        return None

    def siblings(self, turn_id: int) -> list[int]:
        return self.children.get(self.turns[turn_id].parent, [])

    def sibling_position(self, turn_id: int) -> tuple[int, int]:
        """(1-based position, count) among the alternatives at this point, e.g. (2, 3)."""
        siblings = self.siblings(turn_id)
        return siblings.index(turn_id) + 1, len(siblings)

    def switch_sibling(self, turn_id: int, delta: int) -> int | None:
        """Show the previous/next alternative of ``turn_id``; returns the new turn id or None."""
        siblings = self.siblings(turn_id)
        index = siblings.index(turn_id) + delta
        if not 0 <= index < len(siblings):
            return None
        target = siblings[index]
        self.select(target)
        return target

    def select(self, turn_id: int) -> None:
        """Make the branch through ``turn_id`` active, following the last-shown children below it."""
        node: int | None = turn_id
        # remember the choice on the way up, so the path above stays consistent
        child = turn_id
        parent = self.turns[turn_id].parent
        while True:
            self._last_visited[parent] = child
            if parent is None:
                break
            child, parent = parent, self.turns[parent].parent
        while node is not None:
            below = self.children.get(node)
            if not below:
                break
            node = self._last_visited.get(node, below[-1])
        self.leaf = node if node is not None else turn_id
