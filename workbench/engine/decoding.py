"""The Decoder: a token sequence, its KV cache, and the next-token distribution.

One mechanism serves every way of choosing tokens (sampled, greedy, or picked by a user):
``distribution()`` gives the candidates, ``advance(token)`` appends any token, ``rewind`` and
``reset_to`` go back while keeping the cached prefix. :class:`Generation` is the loop on top.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from workbench.engine.compiled import StaticKVCache
from workbench.engine.errors import PromptError
from workbench.engine.kvcache import KVCache
from workbench.engine.loading import LoadedModel
from workbench.engine.sampling import Sampler
from workbench.engine.settings import MAX_TOP_K_SHOWN, SamplingSettings
from workbench.engine.steps import Candidate, ChosenBy, TokenStep
from workbench.engine.textstream import TextStream
from workbench.engine.tokens import TokenTable


@dataclass(slots=True)
class Distribution:
    """The next-token distribution after a sequence, under one set of sampling settings.

    ``p = softmax(logits)`` is the model's own distribution; ``q`` the one the sampling
    settings draw from. The full tensors stay on the device; ``candidates`` (top-k by ``p``)
    are plain Python values.
    """

    logits: torch.Tensor
    p: torch.Tensor
    q: torch.Tensor
    entropy: float  # of p, in nats
    candidates: tuple[Candidate, ...]
    sampler: Sampler
    table: TokenTable
    input_ids: torch.Tensor | None  # what the repetition penalty looked at

    @classmethod
    def compute(
        cls,
        logits: torch.Tensor,
        sampler: Sampler,
        table: TokenTable,
        top_k: int,
        input_ids: torch.Tensor | None,
    ) -> Distribution:
        logits = logits.float()
        log_p = torch.log_softmax(logits, dim=-1)
        p = log_p.exp()
        q = sampler.sampling_probabilities(_ids_or_empty(input_ids, logits.device), logits)
        # entr(x) = -x ln x with entr(0) = 0: no NaN where p underflows to zero.
        entropy_t = torch.special.entr(p).sum()
        k = max(0, min(top_k, MAX_TOP_K_SHOWN, p.shape[-1]))
        if k:
            top_p, top_ids = p.topk(k)
            packed = torch.cat(
                [top_ids.double(), top_p.double(), q[top_ids].double(), entropy_t.double()[None]]
            )
            values = packed.tolist()  # the one copy to the host
            ids, ps, qs, entropy = values[:k], values[k : 2 * k], values[2 * k : 3 * k], values[-1]
            candidates = tuple(
                Candidate(int(i), table.label(int(i)), pp, qq, table.kind(int(i)))
                for i, pp, qq in zip(ids, ps, qs, strict=True)
            )
        else:
            entropy, candidates = entropy_t.item(), ()
        return cls(logits, p, q, entropy, candidates, sampler, table, input_ids)

    def candidate(self, token_id: int) -> Candidate:
        """Any token's entry, in or out of the top-k."""
        token_id = int(token_id)
        return Candidate(
            token_id,
            self.table.label(token_id),
            self.p[token_id].item(),
            self.q[token_id].item(),
            self.table.kind(token_id),
        )

    def rank(self, token_id: int) -> int:
        """1 for the most probable token under ``p``."""
        return int((self.p > self.p[int(token_id)]).sum().item()) + 1

    @property
    def settings(self) -> SamplingSettings:
        return self.sampler.settings

    def greedy_token(self) -> int:
        """The most probable token under the active settings (``q``)."""
        return int(self.q.argmax().item())

    def sample_token(self) -> tuple[int, ChosenBy]:
        """One token drawn from ``q`` with the reply's seeded stream, and how it was chosen."""
        token = int(self.sampler.choose(self.q).item())
        return token, "greedy" if self.sampler.settings.greedy else "sample"

    def reweighted(self, settings: SamplingSettings | Sampler, top_k: int | None = None) -> Distribution:
        """The same logits under other sampling settings: a new ``q``, no forward pass.

        Given settings, the new sampler keeps this one's seeded stream (see ``Sampler.with_settings``).
        """
        sampler = settings if isinstance(settings, Sampler) else self.sampler.with_settings(settings)
        k = len(self.candidates) if top_k is None else top_k
        return Distribution.compute(self.logits, sampler, self.table, k, self.input_ids)


def _ids_or_empty(input_ids: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    return input_ids if input_ids is not None else torch.empty((1, 0), dtype=torch.long, device=device)


class Decoder:
    """A token sequence with the model's KV cache for it.

    Invariant: the cache holds a prefix of ``ids``; ``_logits`` (when set) is the model's
    output after the whole of ``ids``. Forward passes run lazily, only for uncached tokens.
    """

    def __init__(
        self, loaded: LoadedModel, prompt_ids: Sequence[int], table: TokenTable | None = None
    ) -> None:
        if not prompt_ids:
            raise PromptError("the prompt is empty")
        self.loaded = loaded
        self.table = table or loaded.table
        self._device = loaded.input_device
        self._ids: list[int] = [int(i) for i in prompt_ids]
        self.prompt_length = len(self._ids)
        self._cache: KVCache | StaticKVCache
        if loaded.static is not None:  # --compile: the model's shared static caches
            self._cache = StaticKVCache(loaded.static)
        else:
            self._cache = KVCache(loaded.model)
        self._logits: torch.Tensor | None = None
        self.forward_passes = 0  # counted so tests can prove cache reuse
        self.forwarded_tokens = 0
        limit = loaded.context_length
        if limit is not None and len(self._ids) >= limit:
            raise PromptError(f"the prompt is {len(self._ids)} tokens; the model's context holds {limit}")

    # --- the sequence ---------------------------------------------------------------

    @property
    def ids(self) -> list[int]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def generated_ids(self) -> list[int]:
        return self._ids[self.prompt_length :]

    @property
    def context_full(self) -> bool:
        limit = self.loaded.context_length
        return limit is not None and len(self._ids) >= limit

    def advance(self, token_id: int) -> None:
        """Append any token (sampled or not); its forward pass runs when next needed."""
        token_id = int(token_id)
        if not 0 <= token_id < self.loaded.model.get_output_embeddings().weight.shape[0]:
            raise ValueError(f"token id {token_id} is outside the model's vocabulary")
        self._ids.append(token_id)
        self._logits = None

    def rewind(self, count: int = 1) -> None:
        """Drop the last ``count`` tokens (at least one token always stays)."""
        if count < 0 or count >= len(self._ids):
            raise ValueError(f"cannot rewind {count} of {len(self._ids)} tokens")
        if count:
            self.reset_to(self._ids[: len(self._ids) - count])

    def reset_to(self, ids: Sequence[int]) -> None:
        """Make the sequence ``ids``, keeping the cache of the prefix it shares with the current one."""
        ids = [int(i) for i in ids]
        if not ids:
            raise PromptError("the prompt is empty")
        if ids == self._ids:
            return
        shared = 0
        for a, b in zip(self._ids, ids, strict=False):
            if a != b:
                break
            shared += 1
        # Keep at least the last token uncached so its forward pass gives the next logits.
        self._cache.truncate(min(shared, len(ids) - 1))
        self._ids = ids
        self.prompt_length = min(self.prompt_length, len(ids))
        self._logits = None

    @property
    def compile_seconds(self) -> float:
        """Seconds the model has spent compiling decoding steps so far (``--compile``), all Decoders."""
        static = self.loaded.static
        return static.compile_seconds if static is not None else 0.0

    def set_prompt_length(self, length: int) -> None:
        self.prompt_length = max(0, min(length, len(self._ids)))

    # --- the model ------------------------------------------------------------------

    @torch.inference_mode()
    def logits(self) -> torch.Tensor:
        """Raw next-token logits after the whole sequence (shape [vocab], float32)."""
        if self._logits is None:
            self._cache.reserve(len(self._ids))
            if self._cache.length >= len(self._ids):
                self._cache.truncate(len(self._ids) - 1)
            pending = self._ids[self._cache.length :]
            input_ids = torch.tensor([pending], dtype=torch.long, device=self._device)
            self._logits = self._cache.forward(input_ids).float()
            self.forward_passes += 1
            self.forwarded_tokens += len(pending)
        return self._logits

    @torch.inference_mode()
    def distribution(
        self, sampler: Sampler | SamplingSettings | None = None, top_k: int = 10
    ) -> Distribution:
        """The next-token distribution: ``p``, ``q`` and the top-k candidates (k up to 50)."""
        if not isinstance(sampler, Sampler):
            sampler = Sampler(sampler)
        input_ids = None
        if sampler.needs_input_ids:
            input_ids = torch.tensor([self._ids], dtype=torch.long, device=self._device)
        return Distribution.compute(self.logits(), sampler, self.table, top_k, input_ids)

    @torch.inference_mode()
    def step(
        self,
        sampler: Sampler,
        top_k: int = 10,
        token_id: int | None = None,
        chosen_by: ChosenBy | None = None,
        index: int = 0,
        distribution: Distribution | None = None,
    ) -> tuple[TokenStep, Distribution]:
        """Choose the next token (``token_id`` if given, else by ``sampler``), record it, advance.

        Returns the step record and the distribution it was chosen from. The step's ``text``
        is left empty; :class:`Generation` fills it in UTF-8-safely.
        """
        dist = distribution or self.distribution(sampler, top_k)
        if token_id is None:
            token = sampler.choose(dist.q)
            chosen_by = "greedy" if sampler.settings.greedy else "sample"
        else:
            token = torch.tensor(int(token_id), device=dist.p.device)
            chosen_by = chosen_by or "user"
        rank_t = (dist.p > dist.p[token]).sum()
        token_value, p_tok, q_tok, rank = torch.stack(
            [token.double(), dist.p[token].double(), dist.q[token].double(), rank_t.double()]
        ).tolist()
        token_id = int(token_value)
        step = TokenStep(
            index=index,
            token_id=token_id,
            label=self.table.label(token_id),
            text="",
            p=p_tok,
            q=q_tok,
            rank=int(rank) + 1,
            entropy=dist.entropy,
            candidates=dist.candidates,
            chosen_by=chosen_by,
            kind=self.table.kind(token_id),
            is_end=token_id in self.loaded.eos_token_ids,
        )
        self.advance(token_id)
        return step, dist


# Who picks each token: given the distribution, return (token id, how it was chosen) or
# (token id, how, the distribution it was chosen from, e.g. one re-weighted while paused),
# or None to stop. Without a chooser the sampler picks.
Choice = tuple[int, ChosenBy] | tuple[int, ChosenBy, Distribution]
Chooser = Callable[[Distribution], "Choice | None"]


class Generation:
    """Iterate over the :class:`TokenStep` records of one reply.

    Stops at any EOS id, at ``max_new_tokens``, when the context is full, when the reply's
    text contains one of the settings' ``stop`` strings, or when ``cancel`` is set (checked
    before every token, so another thread can stop it between any two).
    ``text`` is the reply so far; ``finish_reason`` says why it ended.

    Stop strings are matched in the decoded text, not in token ids (transformers'
    ``StopStringCriteria`` works on token pieces for batched ``generate``; one reply decoded
    here has its text at hand), so a stop string split across tokens or starting mid-token is
    found. The step that completes it is kept (it is what the model chose: the chart and the
    token cursor show it), but ``text`` is cut where the stop string begins, as OpenAI's and
    llama.cpp's servers return it: ``finish_reason`` is ``"stop_sequence"``.

    ``resume_steps`` continue a reply that already has these tokens (their ids are the last
    ones in the decoder): a branch from token i of an earlier reply starts with its first i.

    Threads. Iterating (every torch call, ``sampler``, ``steps``, ``text``) belongs to one
    thread, the engine thread. Other threads talk to a running generation only through:
    - ``cancel.set()``: stops it before the next token;
    - ``update_sampling(settings)``: new sampling settings, applied before the next token.
      The reply keeps its seeded random stream (a new one starts only if the seed changed),
      and a step chooser holding a token is asked to re-weight it (``request_reweight``).
      ``max_new_tokens`` follows the settings unless it was given to the constructor.
    Never assign ``sampler`` from another thread: a new ``Sampler`` restarts the stream from
    the seed, and the write races the engine thread.
    """

    def __init__(
        self,
        decoder: Decoder,
        sampler: Sampler,
        top_k: int = 10,
        max_new_tokens: int | None = None,
        cancel: threading.Event | None = None,
        chooser: Chooser | None = None,
        resume_steps: Sequence[TokenStep] = (),
    ) -> None:
        self.decoder = decoder
        self.sampler = sampler
        self.top_k = top_k
        self._fixed_length = max_new_tokens is not None
        self.max_new_tokens = max_new_tokens or sampler.settings.max_new_tokens
        self.cancel = cancel or threading.Event()
        self.chooser = chooser
        self.steps: list[TokenStep] = list(resume_steps)
        self.text = "".join(step.text for step in resume_steps)
        self.new_tokens = 0
        self.finish_reason: str | None = None  # eos | length | context | cancelled | stop_sequence
        self.stop_string: str | None = None  # the stop string that ended it
        self.started = 0.0
        self.first_token_seconds: float | None = None  # compute time until the first new token
        self.elapsed = 0.0
        self.waited = 0.0  # of elapsed, seconds the chooser held a token (a person deciding, play delay)
        self.compiling = 0.0  # of elapsed, seconds torch.compile took (a larger static cache, --compile)
        # (index of the first token, settings) each time the sampling settings changed
        self.settings_changes: list[tuple[int, dict[str, Any]]] = []
        self._handoff = threading.Lock()
        self._pending: SamplingSettings | None = None  # from update_sampling, for the next token
        ids = decoder.ids
        before = ids[: len(ids) - len(resume_steps)] if resume_steps else ids
        self._stream = TextStream(decoder.loaded.tokenizer, prefix_ids=before)
        for step in resume_steps:  # rebuild the stream's state (bytes held mid-character)
            self._stream.step(step.token_id)

    def update_sampling(self, settings: SamplingSettings) -> None:
        """Use ``settings`` from the next token on. Safe to call from any thread."""
        if not isinstance(settings, SamplingSettings):
            raise TypeError(f"update_sampling takes SamplingSettings, not {type(settings).__name__}")
        with self._handoff:
            self._pending = settings
        request_reweight = getattr(self.chooser, "request_reweight", None)
        if request_reweight is not None:  # a paused step shows (and samples) the new q at once
            request_reweight(settings)

    def _take_pending(self) -> None:
        """On the engine thread: adopt settings handed over by ``update_sampling``."""
        with self._handoff:
            settings, self._pending = self._pending, None
        if settings is None:
            return
        self.sampler = self.sampler.with_settings(settings)
        if not self._fixed_length:
            self.max_new_tokens = settings.max_new_tokens

    @property
    def compute_seconds(self) -> float:
        """Seconds spent computing: the time a chooser waited for a decision is left out."""
        return max(0.0, self.elapsed - self.waited - self.compiling)

    @property
    def tokens_per_second(self) -> float:
        """Decoding speed: step mode's thinking time and play delay do not count."""
        seconds = self.compute_seconds
        return self.new_tokens / seconds if seconds > 0 else 0.0

    def __iter__(self) -> Iterator[TokenStep]:
        self.started = time.perf_counter()
        compiled_before = self.decoder.compile_seconds
        try:
            yield from self._run()
        finally:
            self.elapsed = time.perf_counter() - self.started
            self.compiling += self.decoder.compile_seconds - compiled_before

    def _run(self) -> Iterator[TokenStep]:
        decoder = self.decoder
        last_settings = None
        index = len(self.steps)
        while True:
            self._take_pending()
            if index >= self.max_new_tokens:
                break
            if self.cancel.is_set():
                self._finish("cancelled")
                return
            if decoder.context_full:
                self._finish("context")
                return
            sampler = self.sampler
            if self.chooser is None:
                step, _ = decoder.step(sampler, self.top_k, index=index)
            else:
                dist = decoder.distribution(sampler, self.top_k)
                asked = time.perf_counter()
                choice = self.chooser(dist)
                self.waited += time.perf_counter() - asked
                if choice is None or self.cancel.is_set():
                    self._finish("cancelled")
                    return
                token_id, chosen_by = choice[0], choice[1]
                if len(choice) > 2:
                    dist = choice[2]
                    # re-weighted while paused: keep its sampler (and so its stream) from now on
                    sampler = self.sampler = dist.sampler
                step, _ = decoder.step(sampler, self.top_k, token_id, chosen_by, index, distribution=dist)
            index += 1
            if sampler.settings != last_settings:
                self.settings_changes.append((step.index, sampler.settings.to_dict()))
                last_settings = sampler.settings
            self.new_tokens += 1
            if step.is_end:
                tail = self._stream.flush()
                step = _with_text(step, tail)
                self.text += tail
                self.steps.append(step)
                self._note_first_token()
                self.finish_reason = "eos"
                yield step
                return
            piece = self._stream.step(step.token_id)
            step = _with_text(step, piece)
            before = len(self.text)
            self.text += piece
            self.steps.append(step)
            self._note_first_token()
            stop_at = self._stop_position(before, sampler.settings.stop) if piece else None
            if stop_at is not None:  # the last step: its consumer already sees the cut text
                self.text = self.text[:stop_at]
                self.finish_reason = "stop_sequence"
                yield step
                return
            yield step
        self._finish("length")

    def _note_first_token(self) -> None:
        if self.first_token_seconds is None:
            # like tok/s, without the time a chooser held the token (a person deciding)
            self.first_token_seconds = max(0.0, time.perf_counter() - self.started - self.waited)

    def _stop_position(self, before: int, stops: tuple[str, ...]) -> int | None:
        """Where the earliest stop string that ends in the text added after ``before`` begins."""
        found: tuple[int, str] | None = None
        for stop in stops:
            # only a match that reaches into the new text: older ones were checked already
            start = max(0, before - len(stop) + 1)
            at = self.text.find(stop, start)
            if at != -1 and (found is None or at < found[0]):
                found = (at, stop)
        if found is None:
            return None
        self.stop_string = found[1]
        return found[0]

    def _finish(self, reason: str) -> None:
        self.text += self._stream.flush()
        self.finish_reason = reason


def _with_text(step: TokenStep, text: str) -> TokenStep:
    return replace(step, text=text) if text else step
