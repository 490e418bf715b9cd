"""One reply's life, from send to saved: the only object shared by the UI and engine threads.

Thread contract
- UI thread: creates the Reply, starts it (:meth:`start`), drains :attr:`pending`, asks to
  stop (:meth:`stop`), hands over new settings (:meth:`update_sampling`, :meth:`set_top_k`),
  answers a paused token through :attr:`chooser`, and owns :attr:`turn` (the Conversation's).
- Engine thread: :meth:`_run` builds the prompt, owns the Decoder (held across replies in a
  :class:`DecoderSlot`) and the Generation, applies the handoffs before each token, appends
  each TokenStep to :attr:`pending`, and ends by setting :attr:`result` and :attr:`done`
  and posting ``GenerationEnded``.
- The only ways between them: the ``pending`` deque and posted messages (engine -> UI); the
  ``_inbox`` queue, the cancel Event and the chooser's locked calls (UI -> engine).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.conversation import Turn
from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import TokenStep
from workbench.ui.messages import GenerationEnded, ReplyPrompted, StepWaiting

if TYPE_CHECKING:
    from workbench.engine.decoding import Decoder
    from workbench.engine.loading import LoadedModel
    from workbench.engine.prompts import Prompt


class DecoderSlot:
    """The Decoder kept between replies (its KV cache holds the conversation's prefix).

    Touched only on the engine thread.
    """

    def __init__(self) -> None:
        self.decoder: Decoder | None = None

    def for_ids(self, loaded: LoadedModel, ids: list[int]) -> Decoder:
        from workbench.engine.decoding import Decoder

        decoder = self.decoder
        if decoder is None or decoder.loaded is not loaded:
            decoder = Decoder(loaded, ids)
        else:
            decoder.reset_to(ids)  # keeps the KV cache of the shared prefix
        self.decoder = decoder
        return decoder

    def drop(self, loaded: LoadedModel | None = None) -> None:
        """Forget the decoder (of ``loaded`` only, if given): before that model is released."""
        if loaded is None or (self.decoder is not None and self.decoder.loaded is loaded):
            self.decoder = None


@dataclass(slots=True)
class ReplyResult:
    text: str
    finish_reason: str  # eos | length | context | cancelled | stop_sequence | error
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Reply:
    """A reply being generated; see the module docstring for which thread may call what."""

    def __init__(
        self,
        turn: Turn,
        loaded: LoadedModel,
        build_prompt: Callable[[Any], Prompt],
        sampling: SamplingSettings,
        top_k: int,
        post: Callable[[Any], Any],
        slot: DecoderSlot,
        resume: list[TokenStep] | None = None,
        forced_token: int | None = None,
        step_mode: bool = False,
        play_delay: float = 0.5,
    ) -> None:
        from workbench.engine.stepping import StepChooser

        self.turn = turn
        self.loaded = loaded
        self.sampling = sampling
        self.pending: deque[TokenStep] = deque()
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.result: ReplyResult | None = None
        self.finished = False  # set on the UI thread once the result is saved and shown
        # UI thread only: when the first token reached the screen, for the speed figure
        self.first_token_at: float | None = None
        self.counted_from = 0
        self._build_prompt = build_prompt
        self._top_k = top_k
        self._post = post
        self._slot = slot
        self._resume = list(resume or [])
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        turn_id = turn.id
        self.chooser = StepChooser(
            on_waiting=lambda dist: post(StepWaiting(turn_id, dist)),
            cancel=self.cancel,
            playing=not step_mode,
            delay=play_delay if step_mode else 0.0,
        )
        self.chooser.first_token = forced_token

    # --- the UI thread ----------------------------------------------------------------

    def start(self) -> None:
        from workbench.engine import runner

        runner.submit(self._run)

    def stop(self) -> None:
        """Stop before the next token (also while paused); the result says "cancelled"."""
        self.cancel.set()
        self.chooser.stop()

    def update_sampling(self, settings: SamplingSettings) -> None:
        """New sampling settings from the next token on; a paused token is re-weighted now."""
        self.sampling = settings
        self._inbox.put(("sampling", settings))
        self.chooser.request_reweight(settings)  # the engine thread re-weights a waiting token

    def set_top_k(self, top_k: int) -> None:
        self._inbox.put(("top_k", top_k))

    def take_pending(self) -> list[TokenStep]:
        steps: list[TokenStep] = []
        while self.pending:
            steps.append(self.pending.popleft())
        return steps

    # --- the engine thread ----------------------------------------------------------

    def _apply_inbox(self, generation: Any) -> None:
        while True:
            try:
                kind, value = self._inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "sampling":
                generation.update_sampling(value)  # keeps the reply's seeded random stream going
            elif kind == "top_k":
                generation.top_k = value

    def _run(self) -> None:
        import torch

        from workbench.engine.decoding import Generation
        from workbench.engine.sampling import Sampler

        generation = None
        decoder = None
        try:
            prompt = self._build_prompt(self.loaded.tokenizer)
            ids = list(prompt.ids) + [s.token_id for s in self._resume]
            decoder = self._slot.for_ids(self.loaded, ids)
            decoder.set_prompt_length(len(prompt.ids))
            self._post(
                ReplyPrompted(self.turn.id, len(prompt.ids), self.loaded.context_length, prompt.notice)
            )
            generation = Generation(
                decoder,
                Sampler(self.sampling),
                top_k=self._top_k,
                cancel=self.cancel,
                chooser=self.chooser,
                resume_steps=self._resume,
            )
            self._apply_inbox(generation)
            for step in generation:
                self.pending.append(step)
                self._apply_inbox(generation)
            reason = generation.finish_reason or "length"
            result = ReplyResult(generation.text, reason, _stats(generation, decoder))
        except torch.OutOfMemoryError:
            self._slot.drop()
            result = ReplyResult(
                generation.text if generation else "",
                "error",
                {},
                "out of memory while generating: try a shorter conversation, a smaller dtype or another device",
            )
        except Exception as exc:  # noqa: BLE001 - shown on the reply; the app stays up
            self._slot.drop()
            text = generation.text if generation else ""
            result = ReplyResult(text, "error", {}, f"{type(exc).__name__}: {exc}")
        self.result = result
        self.done.set()
        self._post(
            GenerationEnded(self.turn.id, result.text, result.finish_reason, result.stats, result.error)
        )


def _stats(generation: Any, decoder: Any) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "tokens": len(generation.steps),
        "tokens_per_second": round(generation.tokens_per_second, 2),
        "finish_reason": generation.finish_reason,
        "context_used": len(decoder),
        "seconds": round(generation.elapsed, 3),
    }
    if generation.first_token_seconds is not None:  # time to first token, shown in the reply's header
        stats["first_token_seconds"] = round(generation.first_token_seconds, 4)
    if generation.stop_string is not None:
        stats["stop_string"] = generation.stop_string
    if generation.waited >= 0.001:  # step mode: time a token waited for a decision (not in tok/s)
        stats["waited_seconds"] = round(generation.waited, 3)
    if len(generation.settings_changes) > 1:  # settings changed during the reply: keep each step's
        stats["settings_changes"] = [{"from_token": i, "sampling": s} for i, s in generation.settings_changes]
    return stats
