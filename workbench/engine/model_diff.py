"""Model against model: KL(A‖B) of the next-token distributions of two models over one text.

Both models read the same ids, so they must share one vocabulary: :func:`check_same_vocabulary`
compares the token -> id maps and names the first difference. Model B is loaded only after
its tokenizer has passed that check and its weights have been found to fit in free memory
(:func:`check_fits`): a second copy of a large model must not take the machine down.

For each token ``t[i]`` (i >= 1) of the text, both models' distributions at position ``i - 1``
(the ones that predicted ``t[i]``) are compared::

    KL(A‖B) = sum_v pA(v) * (log pA(v) - log pB(v))      # nats, >= 0, 0 when identical

computed in float32 from ``log_softmax`` of each model's logits, whatever dtype they ran in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from workbench.engine.errors import ModelLoadError, SettingsError
from workbench.engine.settings import LoadSettings

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel
    from workbench.engine.progress import ProgressCallback
    from workbench.engine.sources import ModelSource

DEFAULT_TOP_K = 5
DEFAULT_MOST = 10  # rows of "where they disagree most"
# Room kept above the weights' own size when deciding whether model B fits: activations,
# the tokenizer, allocator slack. A guess on the safe side, not a measurement.
MEMORY_MARGIN = 1.2


class VocabularyMismatchError(ModelLoadError):
    """Model B's tokenizer maps some token to another id than model A's."""


class MemoryShortError(ModelLoadError):
    """Model B's weights would not fit in the memory that is free now."""


@dataclass(frozen=True, slots=True)
class DiffCandidate:
    token_id: int
    token: str  # the visible label (TokenTable.label)
    p: float


@dataclass(frozen=True, slots=True)
class TokenDiff:
    """One token of the text and how differently the two models predicted it."""

    position: int  # index of the token in the ids
    token_id: int
    token: str  # visible label
    kl: float  # KL(A‖B) in nats of the distributions at position - 1
    p_a: float  # A's probability of this token
    p_b: float
    top_a: tuple[DiffCandidate, ...]
    top_b: tuple[DiffCandidate, ...]


@dataclass(frozen=True, slots=True)
class DiffResult:
    ids: tuple[int, ...]
    tokens: tuple[TokenDiff, ...]
    compared_ids: int  # the vocabulary size the distributions were compared over

    @property
    def mean_kl(self) -> float:
        return sum(t.kl for t in self.tokens) / len(self.tokens) if self.tokens else 0.0

    def most_different(self, count: int = DEFAULT_MOST) -> list[TokenDiff]:
        """The tokens with the largest KL, largest first (ties: earlier first)."""
        return sorted(self.tokens, key=lambda t: (-t.kl, t.position))[:count]


# --- checks before model B loads ----------------------------------------------------------


def vocabulary_difference(tokenizer_a: Any, tokenizer_b: Any) -> str | None:
    """``None`` when both tokenizers map every token to the same id; else the first difference
    (by id), in words."""
    vocab_a: dict[str, int] = tokenizer_a.get_vocab()
    vocab_b: dict[str, int] = tokenizer_b.get_vocab()
    if vocab_a == vocab_b:
        return None
    by_id_a = {i: t for t, i in vocab_a.items()}
    by_id_b = {i: t for t, i in vocab_b.items()}
    for token_id in sorted(set(by_id_a) | set(by_id_b)):
        a, b = by_id_a.get(token_id), by_id_b.get(token_id)
        if a != b:
            shown_a = repr(a) if a is not None else "absent"
            shown_b = repr(b) if b is not None else "absent"
            return (
                f"id {token_id} is {shown_a} in model A and {shown_b} in model B "
                f"(A has {len(vocab_a)} tokens, B has {len(vocab_b)})"
            )
    # Same ids, but a token string maps to two ids in one of them (duplicates collapse in a dict).
    return f"the vocabularies differ (A has {len(vocab_a)} tokens, B has {len(vocab_b)})"


def check_same_vocabulary(tokenizer_a: Any, tokenizer_b: Any, name_b: str = "model B") -> None:
    difference = vocabulary_difference(tokenizer_a, tokenizer_b)
    if difference is not None:
        raise VocabularyMismatchError(
            f"{name_b} does not share model A's vocabulary, so their next-token distributions "
            f"cannot be compared token by token: {difference}; pick a model with the same tokenizer "
            "(e.g. the same model in another dtype: --dtype-b bfloat16)"
        )


def estimate_weight_bytes(source: ModelSource, dtype: torch.dtype) -> int | None:
    """Bytes model B's weights will take in ``dtype`` (the peak of loading it), from file
    headers only; ``None`` when they cannot be read without loading (a hub model not cached).

    A GGUF file that has no de-quantised copy in the cache is first de-quantised to float32
    by transformers, so its peak is the float32 size whatever ``dtype`` is asked for.
    """
    from pathlib import Path

    size = torch.empty((), dtype=dtype).element_size()
    if source.gguf_path is not None:
        from workbench.engine.loading import gguf_cache_folder

        cached = gguf_cache_folder(source.gguf_path) / "model.safetensors"
        if cached.is_file():
            return _safetensors_elements(cached) * size
        from gguf import GGUFReader

        elements = sum(int(t.n_elements) for t in GGUFReader(source.gguf_path).tensors)
        return elements * max(size, 4)
    folder = Path(source.location)
    if source.kind == "hub":
        folder = _hub_folder(source.location) or folder
    if not folder.is_dir():
        return None
    from workbench.engine.provenance import weight_files

    files = weight_files(folder)
    if not files:
        return None
    total = 0
    for file in files:
        if file.suffix == ".safetensors":
            total += _safetensors_elements(file) * size
        else:  # a pickled .bin: its size on disk, at least what it takes in memory
            total += file.stat().st_size
    return total


def _safetensors_elements(path: Any) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())  # noqa: SIM118


def _hub_folder(repo_id: str) -> Any:
    from pathlib import Path

    from workbench.engine.provenance import hub_revision

    try:
        import huggingface_hub

        cached = huggingface_hub.try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - unknown size: not refused on a guess
        return None
    return Path(cached).parent if isinstance(cached, str) and hub_revision(repo_id) else None


def check_fits(needed: int | None, available: int | None, where: str) -> None:
    """Refuse when ``needed`` bytes (with a margin) exceed ``available``; unknowns pass."""
    if needed is None or available is None:
        return
    if needed * MEMORY_MARGIN > available:
        raise MemoryShortError(
            f"model B would not fit: its weights take about {needed / 2**30:.2f} GiB (with room for "
            f"the computation {needed * MEMORY_MARGIN / 2**30:.2f} GiB) and {where} has "
            f"{available / 2**30:.2f} GiB free; free memory (close model A's other uses), pick a "
            "smaller dtype for B (--dtype-b bfloat16) or a smaller model"
        )


def load_model_b(
    loaded_a: LoadedModel,
    settings_b: LoadSettings,
    progress: ProgressCallback | None = None,
    available: int | None = None,
) -> LoadedModel:
    """Load model B after checking its vocabulary against A's and its size against free memory.

    ``available`` overrides the free memory read from the machine (for a caller that knows
    better). Both checks run before any weights are read.
    """
    from workbench.engine.devices import available_bytes, choose_dtype, plan_device
    from workbench.engine.loading import load_model, load_tokenizer
    from workbench.engine.progress import LoadProgress
    from workbench.engine.sources import resolve_source

    report = progress or (lambda _: None)
    source = resolve_source(settings_b.model)
    report(LoadProgress("Checking model B's vocabulary"))
    check_same_vocabulary(loaded_a.tokenizer, load_tokenizer(settings_b), source.display_name)
    plan = plan_device(settings_b.device)
    dtype = choose_dtype(settings_b.dtype, plan).dtype
    report(LoadProgress("Checking free memory for model B"))
    free = available if available is not None else available_bytes(plan)
    check_fits(estimate_weight_bytes(source, dtype), free, plan.label)
    return load_model(settings_b, progress=progress)


# --- the comparison -----------------------------------------------------------------------


def text_ids(loaded: LoadedModel, text: str) -> list[int]:
    """The text as model A reads it: ``tokenizer.encode`` with its special tokens (BOS...)."""
    from workbench.engine.prompts import completion_prompt

    return list(completion_prompt(loaded.tokenizer, text).ids)


@torch.inference_mode()
def _log_probs(loaded: LoadedModel, ids: Sequence[int], width: int) -> torch.Tensor:
    """float32 log-probabilities at every position, over the first ``width`` ids, on the CPU."""
    input_ids = torch.tensor([list(ids)], device=loaded.input_device)
    logits = loaded.model(input_ids=input_ids).logits[0, :, :width]
    return torch.log_softmax(logits.float(), dim=-1).cpu()


def kl_per_position(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(P‖Q) for each row of two [positions, vocab] log-probability tensors, in nats."""
    p = log_p.exp()
    # 0 * log 0 counts as 0: where P has no mass the term vanishes even if Q has none either.
    terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
    return terms.sum(-1).clamp_min(0.0)


def diff_ids(
    loaded_a: LoadedModel,
    loaded_b: LoadedModel,
    ids: Sequence[int],
    top_k: int = DEFAULT_TOP_K,
    on_progress: Callable[[str], None] | None = None,
    start: int = 1,
) -> DiffResult:
    """KL(A‖B), both top-k lists and both probabilities for each token from position ``start``
    on (a reply after its prompt: ``start = len(prompt ids)``); the models read all the ids."""
    if len(ids) < 2 or start >= len(ids):
        raise SettingsError(
            "the text must be at least two tokens long: each token is compared by the "
            "distributions that predicted it"
        )
    limits = [n for n in (loaded_a.context_length, loaded_b.context_length) if n]
    if limits and len(ids) > min(limits):
        raise SettingsError(
            f"the text is {len(ids)} tokens, longer than the models' context ({min(limits)}); shorten it"
        )
    say = on_progress or (lambda _: None)
    # A padded lm_head may be wider than the vocabulary: compare over what both models score.
    width = min(_logit_width(loaded_a), _logit_width(loaded_b))
    say("Running model A")
    log_a = _log_probs(loaded_a, ids, width)[:-1]
    say("Running model B")
    log_b = _log_probs(loaded_b, ids, width)[:-1]
    kls = kl_per_position(log_a, log_b).tolist()
    table = loaded_a.table
    top_a = log_a.topk(top_k, dim=-1)
    top_b = log_b.topk(top_k, dim=-1)
    targets = torch.tensor(list(ids[1:]))
    if int(targets.max()) >= width:
        raise SettingsError(f"the text holds token ids beyond the {width} the models score")
    p_a = log_a.gather(1, targets[:, None]).exp()[:, 0].tolist()
    p_b = log_b.gather(1, targets[:, None]).exp()[:, 0].tolist()

    def candidates(values: torch.Tensor, indices: torch.Tensor) -> tuple[DiffCandidate, ...]:
        return tuple(
            DiffCandidate(i, table.label(i), math.exp(v))
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        )

    tokens = tuple(
        TokenDiff(
            position=n + 1,
            token_id=int(ids[n + 1]),
            token=table.label(int(ids[n + 1])),
            kl=float(kls[n]),
            p_a=float(p_a[n]),
            p_b=float(p_b[n]),
            top_a=candidates(top_a.values[n], top_a.indices[n]),
            top_b=candidates(top_b.values[n], top_b.indices[n]),
        )
        for n in range(max(start, 1) - 1, len(ids) - 1)
    )
    return DiffResult(tuple(int(i) for i in ids), tokens, width)


def diff_text(
    loaded_a: LoadedModel, loaded_b: LoadedModel, text: str, top_k: int = DEFAULT_TOP_K
) -> DiffResult:
    return diff_ids(loaded_a, loaded_b, text_ids(loaded_a, text), top_k)


def _logit_width(loaded: LoadedModel) -> int:
    head = loaded.model.get_output_embeddings()
    weight = getattr(head, "weight", None)
    if isinstance(weight, torch.Tensor):
        return int(weight.shape[0])
    return int(loaded.model.config.get_text_config().vocab_size)
