"""A streamed server reply as :class:`TokenStep` records, the records the UI and sessions use.

The server's probability goes into ``p`` (raw) or ``q`` (after sampling) as its semantics say;
the other is NaN, and so is ``entropy`` (a server sends only the top-k, never the whole
distribution); ``token_id`` is -1 when the server sends no ids.

Faults never raise out of the iteration: a cut stream, a malformed chunk or a refused request
ends the reply with ``finish_reason == "error"`` and ``error`` saying what happened; the text
that arrived before stays in ``text`` and ``steps``.

Threads: iterate on one thread; another may set ``cancel`` (checked between chunks: the
connection is closed and the reply ends ``"cancelled"``).
"""

from __future__ import annotations

import codecs
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from workbench.backends.server import logprobs as lp
from workbench.backends.server.errors import ServerError
from workbench.backends.server.semantics import Semantics
from workbench.engine.steps import ChosenBy, TokenStep
from workbench.engine.tokens import bytes_label

FINISH_REASONS = {"stop": "eos", "length": "length", "eos": "eos", "eos_token": "eos"}


class ServerGeneration:
    """Iterate over the :class:`TokenStep` records of one streamed reply."""

    def __init__(
        self,
        events: Callable[[], Iterator[dict[str, Any]]],
        semantics: Semantics,
        greedy: bool,
        cancel: threading.Event | None = None,
        labeler: lp.Labeler | None = None,
        resume_steps: Sequence[TokenStep] = (),
    ) -> None:
        self._events = events  # opens the request when called: retries and errors happen inside
        self.semantics = semantics
        self.chosen_by: ChosenBy = "greedy" if greedy else "sample"
        self.cancel = cancel or threading.Event()
        self._labeler = labeler
        self._labels: dict[int, str] = {}
        self.steps: list[TokenStep] = list(resume_steps)
        self.text = "".join(step.text for step in resume_steps)
        self.new_tokens = 0
        self.finish_reason: str | None = None  # eos | length | cancelled | stop_sequence | error
        self.stop_string: str | None = None
        self.error: str | None = None
        self.first_token_seconds: float | None = None
        self.elapsed = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.elapsed if self.elapsed > 0 else 0.0

    def __iter__(self) -> Iterator[TokenStep]:
        started = time.perf_counter()
        try:
            for step in self._run():
                if self.first_token_seconds is None:
                    self.first_token_seconds = time.perf_counter() - started
                yield step
        finally:
            self.elapsed = time.perf_counter() - started

    def _run(self) -> Iterator[TokenStep]:
        stream: Iterator[dict[str, Any]] | None = None
        try:
            stream = self._events()
            for event in stream:
                if self.cancel.is_set():
                    self.finish_reason = "cancelled"
                    return
                yield from self._steps_of(event)
                if self.finish_reason is not None:
                    return
            if self.finish_reason is None:
                self.finish_reason = "eos"  # [DONE] without a finish_reason
        except ServerError as exc:
            self.finish_reason = "error"
            self.error = str(exc)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # closes the connection: a cancelled reply stops costing the server

    def _steps_of(self, event: dict[str, Any]) -> Iterator[TokenStep]:
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise ServerError(
                f"the server sent a malformed stream chunk (no choices): {event!r:.80}", kind="malformed"
            )
        if not choices:
            return  # a usage-only chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            raise ServerError(
                "the server sent a malformed stream chunk (a choice is not an object)", kind="malformed"
            )
        delta = choice.get("delta")
        piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if piece is not None and not isinstance(piece, str):
            raise ServerError(
                "the server sent a malformed stream chunk (content is not text)", kind="malformed"
            )
        piece = piece or ""
        found = lp.entries(choice.get("logprobs"))
        if found and self._labeler is not None:
            wanted = lp.missing_ids(found) - self._labels.keys()
            if wanted:
                self._labels.update(self._labeler(wanted))
        if found:
            texts = _split_text(piece, found)
            for entry, text in zip(found, texts, strict=True):
                yield self._step(entry, text)
        elif piece:  # text without probabilities (the server gives none, or left them out)
            yield self._step(lp.Entry(piece, None, None, math.nan), piece)
        reason = choice.get("finish_reason")
        if reason:
            stop_reason = choice.get("stop_reason")  # vLLM: the stop string, or the EOS id
            if reason == "stop" and isinstance(stop_reason, str):
                self.finish_reason, self.stop_string = "stop_sequence", stop_reason
            else:
                self.finish_reason = FINISH_REASONS.get(str(reason), str(reason))

    def _step(self, entry: lp.Entry, text: str) -> TokenStep:
        p, q = lp.place(self.semantics, entry.prob)
        label = entry.label(self._labels)
        if label == "?" or (label.startswith("#") and text):
            label = bytes_label(text.encode())
        step = TokenStep(
            index=len(self.steps),
            token_id=entry.token_id if entry.token_id is not None else -1,
            label=label,
            text=text,
            p=p,
            q=q,
            rank=lp.rank_of(entry),
            entropy=math.nan,
            candidates=lp.candidates(self.semantics, entry, self._labels),
            chosen_by=self.chosen_by,
            kind=entry.kind,
        )
        self.steps.append(step)
        self.text += text
        self.new_tokens += 1
        return step


def _split_text(piece: str, found: list[lp.Entry]) -> list[str]:
    """The chunk's text shared out among its tokens (usually one). With bytes for every token,
    an incremental UTF-8 decoder gives each its share (empty while a character is incomplete);
    otherwise the first token carries the whole chunk."""
    if len(found) == 1:
        return [piece]
    if all(entry.raw is not None for entry in found):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        texts = [decoder.decode(entry.raw or b"") for entry in found]
        texts[-1] += decoder.decode(b"", final=True)
        if "".join(texts) == piece:
            return texts
    return [piece] + [""] * (len(found) - 1)
