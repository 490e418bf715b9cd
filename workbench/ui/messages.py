"""Messages between the worker threads and the UI. Workers only ever ``post_message`` these."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class LoadProgressed(Message):
    """A model-loading stage; a newer one replaces any still queued (they come fast)."""

    def __init__(self, stage: str, fraction: float | None) -> None:
        super().__init__()
        self.stage = stage
        self.fraction = fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed)


class ModelLoaded(Message):
    """``request``: the LoadSettings asked for (None: handed over directly, as tests do)."""

    def __init__(self, loaded: Any, request: Any = None) -> None:  # a workbench.engine.loading.LoadedModel
        super().__init__()
        self.loaded = loaded
        self.request = request


class ModelLoadFailed(Message):
    def __init__(self, error: str, request: Any = None) -> None:
        super().__init__()
        self.error = error
        self.request = request


class GenerationEnded(Message):
    """A reply ended: finished (eos/length/context), stopped by the user, or failed."""

    def __init__(
        self, turn_id: int, text: str, finish_reason: str, stats: dict[str, Any], error: str | None = None
    ) -> None:
        super().__init__()
        self.turn_id = turn_id
        self.text = text
        self.finish_reason = finish_reason
        self.stats = stats
        self.error = error


class StepWaiting(Message):
    """Step mode: a distribution is waiting for the user to choose the next token."""

    def __init__(self, turn_id: int, distribution: Any) -> None:  # an engine Distribution
        super().__init__()
        self.turn_id = turn_id
        self.distribution = distribution


class ReplyPrompted(Message):
    """A reply's prompt is built: how many tokens of the context it takes, and its notice."""

    def __init__(
        self, turn_id: int, prompt_tokens: int, context_max: int | None, notice: str | None = None
    ) -> None:
        super().__init__()
        self.turn_id = turn_id
        self.prompt_tokens = prompt_tokens
        self.context_max = context_max
        self.notice = notice  # the Prompt's: what the chat template did (no template, system merged...)


class SessionWriteFailed(Message):
    """The session writer thread could not save something."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ServerAttached(Message):
    """An OpenAI-compatible server answered (a workbench.backends.server.backend.ServerBackend)."""

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self.backend = backend


class ServerAttachFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ServerRetrying(Message):
    """A request to the server failed and is tried again (429, 5xx): shown, not hidden."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ServerTokenizerFound(Message):
    """The inspector's tokenizer for a server's model (a TokenTable, or None) and what it is."""

    def __init__(self, table: Any, about: str) -> None:
        super().__init__()
        self.table = table
        self.about = about
