"""One reply as a backend sees it: the job handed over, and the outcome handed back.

The UI's ``Reply`` (workbench/ui/reply.py) owns the thread contract; a backend's
``run_reply(job)`` runs on the engine thread and talks back only through the job's callables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import TokenStep

if TYPE_CHECKING:
    from workbench.engine.prompts import Prompt
    from workbench.engine.stepping import StepChooser


@dataclass(slots=True)
class ReplyJob:
    """What one reply needs from whoever generates it (built on the UI thread)."""

    build_prompt: Callable[[Any], Prompt]  # tokenizer -> the chat-templated (or plain) prompt
    sampling: SamplingSettings
    top_k: int
    cancel: threading.Event
    chooser: StepChooser
    resume: list[TokenStep]  # a branch from token i of an earlier reply starts with its first i
    # (kind, value) handoffs from the UI since the last call: ("sampling", SamplingSettings)
    # or ("top_k", int); called before every token
    take_handoffs: Callable[[], list[tuple[str, Any]]]
    # prompt tokens, context length (None: unknown), a notice about the prompt (or None)
    on_prompted: Callable[[int, int | None, str | None], None]
    on_step: Callable[[TokenStep], None]
    # The same request without a tokenizer, for a backend that templates it itself (a server):
    # the chat messages (system prompt first, if any), or the document's text in completion mode.
    messages: list[dict[str, str]] | None = None
    document: str | None = None


@dataclass(slots=True)
class ReplyOutcome:
    text: str
    finish_reason: str  # eos | length | context | cancelled | stop_sequence | error
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class ReplyBackend(Protocol):
    """What generates replies: called on the engine thread only."""

    def run_reply(self, job: ReplyJob) -> ReplyOutcome: ...
