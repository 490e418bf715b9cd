"""The in-process backend: this process's transformers model, its KV cache kept between replies.

Everything here runs on the engine thread (workbench/engine/runner.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.backends.reply_job import ReplyJob, ReplyOutcome

if TYPE_CHECKING:
    from workbench.engine.decoding import Decoder, Generation
    from workbench.engine.loading import LoadedModel


class DecoderSlot:
    """The Decoder kept between replies (its KV cache holds the conversation's prefix)."""

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


class LocalBackend:
    """Replies from a model loaded in this process (the default backend)."""

    def __init__(self, loaded: LoadedModel, slot: DecoderSlot) -> None:
        self.loaded = loaded
        self.slot = slot

    def run_reply(self, job: ReplyJob) -> ReplyOutcome:
        import torch

        from workbench.engine.decoding import Generation
        from workbench.engine.sampling import Sampler

        generation: Generation | None = None
        try:
            prompt = job.build_prompt(self.loaded.tokenizer)
            ids = list(prompt.ids) + [s.token_id for s in job.resume]
            decoder = self.slot.for_ids(self.loaded, ids)
            decoder.set_prompt_length(len(prompt.ids))
            job.on_prompted(len(prompt.ids), self.loaded.context_length, prompt.notice)
            generation = Generation(
                decoder,
                Sampler(job.sampling),
                top_k=job.top_k,
                cancel=job.cancel,
                chooser=job.chooser,
                resume_steps=job.resume,
            )
            _apply(job, generation)
            for step in generation:
                job.on_step(step)
                _apply(job, generation)
            reason = generation.finish_reason or "length"
            return ReplyOutcome(generation.text, reason, _stats(generation, decoder))
        except torch.OutOfMemoryError:
            self.slot.drop()
            return ReplyOutcome(
                generation.text if generation else "",
                "error",
                {},
                "out of memory while generating: try a shorter conversation, a smaller dtype or another device",
            )
        except Exception as exc:  # noqa: BLE001 - shown on the reply; the app stays up
            self.slot.drop()
            text = generation.text if generation else ""
            return ReplyOutcome(text, "error", {}, f"{type(exc).__name__}: {exc}")


def _apply(job: ReplyJob, generation: Generation) -> None:
    """The UI's handoffs, before the next token."""
    for kind, value in job.take_handoffs():
        if kind == "sampling":
            generation.update_sampling(value)  # keeps the reply's seeded random stream going
        elif kind == "top_k":
            generation.top_k = value


def _stats(generation: Generation, decoder: Decoder) -> dict[str, Any]:
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
