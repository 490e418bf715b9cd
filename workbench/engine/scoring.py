"""Score a text: how probable the model found each of its tokens.

Token ``i`` is scored by ``p = softmax(logits[i - 1])[ids[i]]``, the model's probability of it
given the tokens before it; ``rank`` is 1 for the model's top choice there, and the surprisal
is ``-log2 p`` bits. Token 0 has nothing before it and is not scored. The perplexity is
``exp`` of the mean negative log-likelihood (nats) of the scored tokens, ``2 ** mean bits``.

A text longer than the window is scored the way the Hugging Face perplexity guide does it: a
window of ``window`` tokens slides ``stride`` tokens at a time; each window scores only the
tokens the previous one did not, so every token is scored once, with at least
``window - stride`` tokens of context after the first window (the stride is less than the
window, so each window's first scored token has context inside it).

Importing this module does not import torch; ``score`` runs on the engine thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import PromptError, SettingsError

if TYPE_CHECKING:
    import torch

    from workbench.engine.loading import LoadedModel

DEFAULT_WINDOW = 1024  # at most: a model with a shorter context uses its context
ROWS_PER_BLOCK = 256  # softmax and ranks over this many positions at a time (bounded memory)
MOST_SURPRISING = 10

Progress = Callable[[int, int], None]  # (tokens scored so far, tokens to score)


class ScoringCancelled(PromptError):
    """The caller asked to stop (``should_stop`` returned true between windows)."""


@dataclass(frozen=True, slots=True)
class ScoredToken:
    index: int  # the token's position in the text's ids
    token_id: int
    token: str  # the visible label (whitespace shown, controls inert)
    text: str  # the text it contributes (UTF-8 safe per token: may show <0xNN> for a split character)
    p: float | None  # None for token 0 (nothing before it)
    rank: int | None

    @property
    def bits(self) -> float | None:
        """Surprisal ``-log2 p`` in bits (infinite where p underflowed to 0)."""
        if self.p is None:
            return None
        return -math.log2(self.p) if self.p > 0 else math.inf


@dataclass(frozen=True, slots=True)
class ScoreResult:
    tokens: tuple[ScoredToken, ...]
    perplexity: float  # nan when no token was scored (a one-token text)
    mean_bits: float
    window: int
    stride: int
    windows: int  # forward passes run

    @property
    def scored(self) -> tuple[ScoredToken, ...]:
        return tuple(t for t in self.tokens if t.p is not None)

    def most_surprising(self, count: int = MOST_SURPRISING) -> list[ScoredToken]:
        """The scored tokens with the lowest p, most surprising first (ties in text order)."""
        return sorted(self.scored, key=lambda t: (t.p, t.index))[:count]


# --- validation (pure Python) ------------------------------------------------------------


def plan_windows(length: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """The HF guide's windows over ``length`` tokens: (begin, end, first scored index) each.

    Each window runs ``ids[begin:end]`` and scores the tokens from ``first`` to ``end - 1``
    (token 0 of the text never: nothing predicts it).
    """
    if window < 2:
        raise SettingsError(f"the window must hold at least 2 tokens, not {window}")
    if not 1 <= stride < window:
        # (a window starting where the last one ended could not predict its first token)
        raise SettingsError(f"the stride must be from 1 to {window - 1} (less than the window), not {stride}")
    plans: list[tuple[int, int, int]] = []
    previous_end = 0
    for begin in range(0, max(length, 1), stride):
        end = min(begin + window, length)
        first = max(previous_end, begin + 1)  # the window's first token has no context in it
        if first < end:
            plans.append((begin, end, first))
        previous_end = end
        if end >= length:
            break
    return plans


def resolve_window(loaded: LoadedModel, window: int | None, stride: int | None) -> tuple[int, int]:
    """The window (the model's context, at most DEFAULT_WINDOW) and stride (half the window)."""
    limit = loaded.context_length
    if window is None:
        window = min(limit or DEFAULT_WINDOW, DEFAULT_WINDOW)
    elif limit is not None and window > limit:
        raise SettingsError(f"the window ({window} tokens) is longer than the model's context ({limit})")
    if stride is None:
        stride = max(1, window // 2)
    plan_windows(0, window, stride)  # validates both
    return window, stride


# --- computing (engine thread) -----------------------------------------------------------


def encode_text(loaded: LoadedModel, text: str) -> list[int]:
    """The text's ids as tutorial code gets them: ``tokenizer(text).input_ids`` (BOS if the
    tokenizer adds one, which is then the context of the text's first token)."""
    if not text or not text.strip():
        raise PromptError("the text to score is empty")
    ids = [int(i) for i in loaded.tokenizer.encode(text, add_special_tokens=True)]
    if not ids:
        raise PromptError("the text encodes to no tokens")
    return ids


def score_ids(
    loaded: LoadedModel,
    ids: list[int],
    window: int | None = None,
    stride: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScoreResult:
    """Score every token of ``ids`` after the first (see the module's docstring)."""
    import torch

    if not ids:
        raise PromptError("there are no tokens to score")
    window, stride = resolve_window(loaded, window, stride)
    plans = plan_windows(len(ids), window, stride)
    total = sum(end - first for _, end, first in plans)
    probs: list[float] = []
    ranks: list[int] = []
    done = 0
    if progress is not None:
        progress(0, total)
    all_ids = torch.tensor(ids, dtype=torch.long)
    for begin, end, first in plans:
        if should_stop is not None and should_stop():
            raise ScoringCancelled("scoring was stopped")
        chunk = all_ids[begin:end].to(loaded.input_device)
        wanted = end - first  # the last `wanted` tokens of the window are scored...
        with torch.inference_mode():
            # ...from the logits of the `wanted` positions before each of them
            logits = _window_logits(loaded.model, chunk, wanted + 1)[:-1]
            targets = chunk[first - begin :]
            p, rank = _gather(logits, targets)
        probs.extend(p)
        ranks.extend(rank)
        done += wanted
        if progress is not None:
            progress(done, total)
    table = loaded.table
    texts = token_texts(loaded.tokenizer, ids)
    tokens = []
    for index, token_id in enumerate(ids):
        p_i = probs[index - 1] if index else None
        rank_i = ranks[index - 1] if index else None
        tokens.append(ScoredToken(index, token_id, _label(table, token_id), texts[index], p_i, rank_i))
    nats = [-math.log(p) if p > 0 else math.inf for p in probs]
    mean_nats = sum(nats) / len(nats) if nats else math.nan
    perplexity = math.exp(mean_nats) if nats else math.nan
    return ScoreResult(tuple(tokens), perplexity, mean_nats / math.log(2), window, stride, len(plans))


def score_text(
    loaded: LoadedModel,
    text: str,
    window: int | None = None,
    stride: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScoreResult:
    return score_ids(loaded, encode_text(loaded, text), window, stride, progress, should_stop)


def _window_logits(model: Any, chunk: torch.Tensor, keep: int) -> torch.Tensor:
    """The logits of the window's last ``keep`` positions ([keep, vocab]).

    ``logits_to_keep`` spares the lm_head over positions nobody reads; a model that does not
    take it computes them all, and they are cut here.
    """
    try:
        out = model(chunk[None], use_cache=False, logits_to_keep=keep)
    except TypeError:
        out = model(chunk[None], use_cache=False)
    return out.logits[0, -keep:]


def _gather(logits: torch.Tensor, targets: torch.Tensor) -> tuple[list[float], list[int]]:
    """p and rank of ``targets[i]`` under ``softmax(logits[i])``, in blocks of rows."""
    import torch

    p_out: list[float] = []
    rank_out: list[int] = []
    for start in range(0, int(targets.shape[0]), ROWS_PER_BLOCK):
        block = logits[start : start + ROWS_PER_BLOCK].float()
        wanted = targets[start : start + ROWS_PER_BLOCK]
        p = torch.softmax(block, dim=-1)
        chosen = p.gather(1, wanted[:, None])
        rank = (p > chosen).sum(dim=-1) + 1
        packed = torch.cat([chosen[:, 0].double(), rank.double()]).tolist()  # one copy to the host
        half = len(packed) // 2
        p_out.extend(packed[:half])
        rank_out.extend(int(r) for r in packed[half:])
    return p_out, rank_out


def _label(table: Any, token_id: int) -> str:
    try:
        return str(table.label(token_id))
    except ValueError:
        return f"<id {token_id}>"


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text each token adds, decoded as a stream: a character split over byte tokens goes
    whole to the token that completes it (the others add ''), special tokens as written."""
    from workbench.engine.textstream import TextStream
    from workbench.safetext import safe_text

    stream = TextStream(tokenizer, skip_special_tokens=False)
    texts = [stream.step(token_id) for token_id in ids]
    if texts:
        texts[-1] += stream.flush()
    return [safe_text(t) for t in texts]
