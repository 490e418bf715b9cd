"""Replies from a server, behind the same ``run_reply(job)`` the in-process engine answers.

Two ways, chosen per reply:
- **Streamed** (the usual chat): one streamed request; the server samples, and each token
  arrives with its top-k. Settings changed mid-reply apply from the next reply (a stream's
  settings are fixed when it is sent): the outcome says so.
- **Stepped** (step mode, or a branch from a chosen token): one request per token with the
  exact token-id prefix and ``max_tokens: 1`` (vLLM, llama.cpp, SGLang). The step chooser
  decides each token as it does in-process: Space takes the server's own draw under the
  settings sent, g the top candidate, a digit or a typed token any other. A branch then
  continues streamed from its exact prefix.

Runs on the engine thread; talks back only through the job (see ui/reply.py's contract).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

from workbench.backends.reply_job import ReplyJob, ReplyOutcome
from workbench.backends.server.backend import ServerBackend
from workbench.backends.server.errors import ServerError
from workbench.backends.server.stepping import ServerDistribution
from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import NO_ID, NOT_GIVEN, Candidate, ChosenBy, TokenStep
from workbench.engine.tokens import bytes_label

END_OF_TURN_TEXTS = frozenset(
    (
        "<|im_end|>",
        "<|eot_id|>",
        "<|end_of_text|>",
        "<|endoftext|>",
        "</s>",
        "<eos>",
        "<end_of_turn>",
        "<|end|>",
        "<|return|>",
        "<|eom_id|>",
    )
)


class ServerStep:
    """A server's distribution as the step chooser sees it (the engine's ``Distribution`` API)."""

    def __init__(self, dist: ServerDistribution, settings: SamplingSettings) -> None:
        self.dist = dist
        self.settings = settings
        self.candidates = dist.candidates
        self.entropy = NOT_GIVEN  # a server sends only the top-k

    def greedy_token(self) -> int:
        """The top candidate by the value the server gave (p or q)."""
        best = max(self.candidates, key=lambda c: _value(c), default=self.dist.sampled)
        if best is None:
            raise ServerError("the server gave no candidates to choose from", kind="malformed")
        return best.token_id

    def sample_token(self) -> tuple[int, ChosenBy]:
        """The token the server itself drew for this request, under the settings sent."""
        if self.dist.sampled is None:
            return self.greedy_token(), "greedy"
        return self.dist.sampled.token_id, "greedy" if self.settings.greedy else "sample"

    def reweighted(self, settings: SamplingSettings, top_k: int | None = None) -> ServerStep:
        """New settings take effect with the next request (a server's answer cannot be re-weighted)."""
        return ServerStep(self.dist, settings)


def _value(c: Candidate) -> float:
    value = c.q if math.isnan(c.p) else c.p
    return -1.0 if math.isnan(value) else value


class ServerReplies:
    """``run_reply`` for one :class:`ServerBackend`."""

    def __init__(self, backend: ServerBackend) -> None:
        self.backend = backend

    def run_reply(self, job: ReplyJob) -> ReplyOutcome:
        chooser = job.chooser
        stepped = not chooser.playing or chooser.delay > 0 or chooser.first_token is not None
        try:
            if stepped:
                return self._stepped(job)
            if job.resume:  # a branch that plays on: stream from its exact prefix
                return self._streamed(
                    job, prefix_ids=self._prompt_ids(job) + [s.token_id for s in job.resume]
                )
            return self._streamed(job)
        except ServerError as exc:
            return ReplyOutcome("".join(s.text for s in job.resume), "error", {}, str(exc))

    # --- streamed ----------------------------------------------------------------------

    def _streamed(self, job: ReplyJob, prefix_ids: list[int] | None = None) -> ReplyOutcome:
        backend = self.backend
        job.on_prompted(len(prefix_ids) if prefix_ids else 0, None, None)
        if prefix_ids is not None:
            generation = backend.generation(
                prefix_ids=prefix_ids,
                settings=job.sampling,
                top_k=job.top_k,
                cancel=job.cancel,
                resume_steps=job.resume,
            )
        elif job.document is not None:
            generation = backend.generation(
                prompt=job.document, settings=job.sampling, top_k=job.top_k, cancel=job.cancel
            )
        else:
            generation = backend.generation(
                messages=job.messages or [], settings=job.sampling, top_k=job.top_k, cancel=job.cancel
            )
        late_settings = False
        for step in generation:
            job.on_step(step)
            if job.take_handoffs():
                late_settings = True
        stats = _stats(
            len(generation.steps),
            generation.tokens_per_second,
            generation.elapsed,
            generation.first_token_seconds,
            generation.finish_reason,
            backend,
        )
        if generation.stop_string is not None:
            stats["stop_string"] = generation.stop_string
        if late_settings:
            stats["note"] = "settings changed during a streamed server reply apply from the next reply"
        reason = generation.finish_reason or "length"
        return ReplyOutcome(generation.text, reason, stats, generation.error)

    # --- stepped -----------------------------------------------------------------------

    def _prompt_ids(self, job: ReplyJob) -> list[int]:
        backend = self.backend
        if not backend.capabilities["step"].supported:
            raise ServerError(
                backend.capabilities["step"].reason or "this server cannot step", kind="unsupported"
            )
        if job.document is not None:
            return [piece.token_id for piece in backend.tokenize(job.document, add_special=True)]
        return backend.chat_ids(job.messages or [])

    def _stepped(self, job: ReplyJob) -> ReplyOutcome:
        backend = self.backend
        prompt = self._prompt_ids(job)
        job.on_prompted(len(prompt), None, None)
        steps = list(job.resume)
        ids = [s.token_id for s in steps]
        text = "".join(s.text for s in steps)
        settings, top_k = job.sampling, job.top_k
        started = time.perf_counter()
        waited = 0.0
        first: float | None = None
        reason = "length"
        while len(steps) < settings.max_new_tokens:
            for kind, value in job.take_handoffs():
                if kind == "sampling":
                    settings = value  # sent with the next request
                elif kind == "top_k":
                    top_k = value
            if job.cancel.is_set():
                reason = "cancelled"
                break
            chooser = job.chooser
            if steps != job.resume and chooser.playing and chooser.delay == 0 and chooser.first_token is None:
                # a branch's forced token is in: the rest plays on, streamed from the exact ids
                ahead = replace(job, resume=steps, sampling=settings, top_k=top_k)
                return self._streamed(ahead, prefix_ids=prompt + ids)
            dist = backend.distribution(prompt + ids, top_k, settings)
            asked = time.perf_counter()
            choice = job.chooser(ServerStep(dist, settings))  # type: ignore[arg-type]
            waited += time.perf_counter() - asked
            if choice is None or job.cancel.is_set():
                reason = "cancelled"
                break
            token_id, chosen_by = choice[0], choice[1]
            step = self._step(len(steps), dist, token_id, chosen_by)
            ids.append(token_id)
            if not step.is_end:
                # the text this token adds: the reply decoded whole, minus what was shown (a
                # character split over tokens shows once it is complete)
                whole = backend.detokenize(ids)
                stable = whole.rstrip("\ufffd")
                piece = stable[len(text) :] if stable.startswith(text) else ""
                text += piece
                step = TokenStep(
                    step.index,
                    step.token_id,
                    step.label,
                    piece,
                    step.p,
                    step.q,
                    step.rank,
                    step.entropy,
                    step.candidates,
                    step.chosen_by,
                    step.kind,
                    step.is_end,
                )
            steps.append(step)
            job.on_step(step)
            if first is None:
                first = time.perf_counter() - started - waited
            if step.is_end:
                reason = "eos"
                break
            if settings.stop and any(stop in text for stop in settings.stop):
                cut = min(text.find(stop) for stop in settings.stop if stop in text)
                text, reason = text[:cut], "stop_sequence"
                break
        elapsed = time.perf_counter() - started
        compute = max(0.0, elapsed - waited)
        new = len(steps) - len(job.resume)
        stats = _stats(len(steps), new / compute if compute > 0 else 0.0, elapsed, first, reason, backend)
        if waited >= 0.001:
            stats["waited_seconds"] = round(waited, 3)
        return ReplyOutcome(text, reason, stats)

    def _step(self, index: int, dist: ServerDistribution, token_id: int, chosen_by: ChosenBy) -> TokenStep:
        """The record of the chosen token: its own p/q where the server gave them."""
        found = next((c for c in dist.candidates if c.token_id == token_id), None)
        if found is None and dist.sampled is not None and dist.sampled.token_id == token_id:
            found = dist.sampled
        rank = next((n + 1 for n, c in enumerate(dist.candidates) if c.token_id == token_id), 0)
        if found is None:  # typed or picked outside the top-k the server sent: nothing known of it
            label = bytes_label(self.backend.detokenize([token_id]).encode()) if token_id != NO_ID else "?"
            found = Candidate(token_id, label, NOT_GIVEN, NOT_GIVEN, "text")
        # an end-of-turn token ends the reply, as the server's own sampler would stop; its
        # end ids are not known over the network, so the usual end-of-turn texts are matched
        # (llama.cpp sends a control token such as <|im_end|> with no text: kind "special")
        is_end = found.kind == "special" or found.text in END_OF_TURN_TEXTS
        return TokenStep(
            index,
            token_id,
            found.text,
            "",
            found.p,
            found.q,
            rank,
            NOT_GIVEN,
            dist.candidates,
            chosen_by,
            found.kind,
            is_end,
        )


def _stats(
    tokens: int, rate: float, elapsed: float, first: float | None, reason: str | None, backend: ServerBackend
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "tokens": tokens,
        "tokens_per_second": round(rate, 2),
        "finish_reason": reason,
        "seconds": round(elapsed, 3),
        "backend": backend.describe(),
    }
    if first is not None:
        stats["first_token_seconds"] = round(first, 4)
    return stats
