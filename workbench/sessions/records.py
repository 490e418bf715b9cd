"""What the session store hands out: plain frozen records, no database handles inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from workbench.engine.settings import LoadSettings, SamplingSettings

Role = Literal["system", "user", "assistant"]
Status = Literal["complete", "stopped", "error", "streaming"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
STATUSES: tuple[str, ...] = ("complete", "stopped", "error", "streaming")
TITLE_LENGTH = 60


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One conversation and the settings it runs with (timestamps are Unix seconds, UTC)."""

    id: int
    title: str
    model: str
    created: float
    updated: float
    load: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)
    active_leaf_id: int | None = None
    # what the model really was when it last ran (LoadedModel.provenance()); {} until recorded
    provenance: dict[str, Any] = field(default_factory=dict)

    def load_settings(self) -> LoadSettings:
        """The stored load settings, validated (unknown keys from other versions are ignored)."""
        return LoadSettings.from_dict({"model": self.model or "default", **self.load})

    def sampling_settings(self) -> SamplingSettings:
        return SamplingSettings.from_dict(self.sampling)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A row of the sessions list. ``snippet`` is set when the list was searched: plain text,
    with ``snippet_spans`` giving the (start, end) of each matching word in it, and
    ``hit_id`` the message it comes from (which can lie on a branch not shown)."""

    id: int
    title: str
    model: str
    created: float
    updated: float
    message_count: int
    snippet: str | None = None
    snippet_spans: tuple[tuple[int, int], ...] = ()
    hit_id: int | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One chat message. ``parent_id`` is the message before it in the conversation tree.

    ``status`` is never "streaming" for a reply that no live writer in this process owns: a
    reply left streaming by a killed process reads as "stopped" with ``interrupted`` set.
    """

    id: int
    session_id: int
    parent_id: int | None
    role: Role
    content: str
    status: Status
    created: float
    stats: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] | None = None
    token_count: int = 0
    interrupted: bool = False

    def chat(self) -> dict[str, str]:
        """The ``{"role", "content"}`` form that ``apply_chat_template`` and OpenAI APIs take."""
        return {"role": self.role, "content": self.content}


def make_title(text: str, length: int = TITLE_LENGTH) -> str:
    """A session title from a message: its first non-blank line, whitespace collapsed, cut
    at a word boundary near ``length`` characters with an ellipsis."""
    line = next((part for part in text.splitlines() if part.strip()), "")
    line = " ".join(line.split())
    if len(line) <= length:
        return line
    cut = line[: length - 1]
    space = cut.rfind(" ")
    if space >= length // 2:  # only back up to a word boundary when it keeps most of the line
        cut = cut[:space]
    return cut.rstrip() + "…"
