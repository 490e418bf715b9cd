"""Fill-mask: the top-k candidates for each mask token of a masked language model.

For each mask token at position ``i`` of ``tokenizer(text)``, ``p = softmax(logits[0, i])`` over
the whole vocabulary, from one forward pass; the top-k of ``p`` are the candidates. Every mask
is answered from the same pass, as if the other masks stayed masked (what the seed's
``pipeline("fill-mask")`` does too).

The user may write ``[MASK]`` whatever the model's own mask token is (``<mask>`` for RoBERTa):
it is replaced by the tokenizer's ``mask_token`` before encoding.

Importing this module does not import torch (the app imports it before a model loads); every
function that computes runs on the engine thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import PromptError
from workbench.engine.settings import check_top_k

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

TYPED_MASK = "[MASK]"
DEFAULT_TOP_K = 5
EXAMPLE = "The capital of France is [MASK]."


@dataclass(frozen=True, slots=True)
class FillCandidate:
    token_id: int
    token: str  # the token as shown (whitespace and "##" subword marks visible, controls inert)
    p: float  # softmax(logits[0, position])[token_id]


@dataclass(frozen=True, slots=True)
class MaskFill:
    position: int  # the mask's index in the model's input ids (special tokens such as [CLS] count)
    candidates: tuple[FillCandidate, ...]  # most probable first

    @property
    def top(self) -> FillCandidate:
        return self.candidates[0]


@dataclass(frozen=True, slots=True)
class FillResult:
    text: str  # as the user gave it
    model_text: str  # with the model's mask token in place of each typed [MASK]
    mask_token: str
    masks: tuple[MaskFill, ...]  # in text order
    input_tokens: int
    filled: str = ""  # the text with each mask replaced by its top candidate (special tokens dropped)


# --- validation (pure Python) ------------------------------------------------------------


def check_text(text: str) -> str:
    if not text or not text.strip():
        raise PromptError(f"the text to fill is empty; give a text with a {TYPED_MASK}, e.g. {EXAMPLE!r}")
    return text


def with_model_mask(text: str, mask_token: str) -> str:
    """Each typed ``[MASK]`` replaced by the model's own mask token."""
    return text if mask_token == TYPED_MASK else text.replace(TYPED_MASK, mask_token)


# --- computing (engine thread) -----------------------------------------------------------


def mask_token_of(loaded: LoadedModel) -> tuple[str, int]:
    """The tokenizer's mask token and its id; a tokenizer without one is refused."""
    tokenizer = loaded.tokenizer
    token = getattr(tokenizer, "mask_token", None)
    token_id = getattr(tokenizer, "mask_token_id", None)
    if not token or token_id is None:
        raise PromptError(
            f"the tokenizer of {loaded.source.display_name} has no mask token, so there is no blank "
            "to fill; fill needs a masked language model's tokenizer"
        )
    return str(token), int(token_id)


def fill(loaded: LoadedModel, text: str, top_k: int = DEFAULT_TOP_K) -> FillResult:
    """The ``top_k`` candidates with their p for every mask token in ``text``."""
    import torch

    check_text(text)
    top_k = check_top_k(top_k)
    mask, mask_id = mask_token_of(loaded)
    model_text = with_model_mask(text, mask)
    encoded = loaded.tokenizer(model_text, return_tensors="pt")
    ids = encoded["input_ids"][0]
    positions = (ids == mask_id).nonzero()[:, 0].tolist()
    if not positions:
        shown = TYPED_MASK if mask == TYPED_MASK else f"{TYPED_MASK} (or {mask})"
        raise PromptError(f"the text has no mask; write {shown} where a word is missing, e.g. {EXAMPLE!r}")
    limit = loaded.context_length
    if limit is not None and len(ids) > limit:
        raise PromptError(
            f"the text is {len(ids)} tokens, more than the model's limit of {limit}; shorten it"
        )
    inputs = {k: v.to(loaded.input_device) for k, v in encoded.items()}
    with torch.inference_mode():
        logits = loaded.model(**inputs).logits[0]
    table = loaded.table
    k = min(top_k, int(logits.shape[-1]))
    masks = []
    for position in positions:
        # p over the whole vocabulary at the mask, in float32; only the top k leave the device.
        probs = torch.softmax(logits[position].float(), dim=-1)
        values, indices = torch.topk(probs, k)
        candidates = tuple(
            FillCandidate(int(i), _label(table, int(i)), float(v))
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        )
        masks.append(MaskFill(int(position), candidates))
    best = ids.tolist()
    for found in masks:
        best[found.position] = found.top.token_id
    filled = loaded.tokenizer.decode(best, skip_special_tokens=True)
    return FillResult(text, model_text, mask, tuple(masks), int(ids.shape[0]), str(filled))


def _label(table: Any, token_id: int) -> str:
    """The token's visible label; ``<id N>`` for ids past the tokenizer (padded vocabularies)."""
    try:
        return str(table.label(token_id))
    except ValueError:
        return f"<id {token_id}>"
