"""One reply's life, from send to saved: the only object shared by the UI and engine threads.

Thread contract
- UI thread: creates the Reply, starts it (:meth:`start`), drains :attr:`pending`, asks to
  stop (:meth:`stop`), hands over new settings (:meth:`update_sampling`, :meth:`set_top_k`),
  answers a paused token through :attr:`chooser`, and owns :attr:`turn` (the Conversation's).
- Engine thread: :meth:`_run` hands a :class:`~workbench.backends.reply_job.ReplyJob` to the
  backend (the in-process engine: workbench/backends/local.py, which builds the prompt and
  owns the Decoder and the Generation). The backend takes the handoffs before each token and
  appends each TokenStep to :attr:`pending` through the job; :meth:`_run` ends by setting
  :attr:`result` and :attr:`done` and posting ``GenerationEnded``.
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
    from workbench.backends.reply_job import ReplyBackend
    from workbench.engine.prompts import Prompt


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
        backend: ReplyBackend,
        build_prompt: Callable[[Any], Prompt],
        sampling: SamplingSettings,
        top_k: int,
        post: Callable[[Any], Any],
        resume: list[TokenStep] | None = None,
        forced_token: int | None = None,
        step_mode: bool = False,
        play_delay: float = 0.5,
        request: tuple[list[dict[str, str]] | None, str | None] = (None, None),
    ) -> None:
        from workbench.engine.stepping import StepChooser

        self.turn = turn
        self.backend = backend
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
        self._resume = list(resume or [])
        self._messages, self._document = request  # for a backend that templates the prompt itself
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

    def _take_handoffs(self) -> list[tuple[str, Any]]:
        handoffs: list[tuple[str, Any]] = []
        while True:
            try:
                handoffs.append(self._inbox.get_nowait())
            except queue.Empty:
                return handoffs

    def _run(self) -> None:
        from workbench.backends.reply_job import ReplyJob

        turn_id = self.turn.id

        def on_prompted(tokens: int, context: int | None, notice: str | None) -> None:
            self._post(ReplyPrompted(turn_id, tokens, context, notice))

        job = ReplyJob(
            build_prompt=self._build_prompt,
            sampling=self.sampling,
            top_k=self._top_k,
            cancel=self.cancel,
            chooser=self.chooser,
            resume=self._resume,
            take_handoffs=self._take_handoffs,
            on_prompted=on_prompted,
            on_step=self.pending.append,
            messages=self._messages,
            document=self._document,
        )
        try:
            outcome = self.backend.run_reply(job)
            result = ReplyResult(outcome.text, outcome.finish_reason, outcome.stats, outcome.error)
        except Exception as exc:  # noqa: BLE001 - a backend's own failure: shown, the app stays up
            text = "".join(step.text for step in list(self.pending))
            result = ReplyResult(text, "error", {}, f"{type(exc).__name__}: {exc}")
        self.result = result
        self.done.set()
        self._post(
            GenerationEnded(self.turn.id, result.text, result.finish_reason, result.stats, result.error)
        )
