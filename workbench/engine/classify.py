"""Classification, two ways: a classifier's own head, or a causal LM scoring each label.

* A sequence-classification model (``AutoModelForSequenceClassification``): the label
  probabilities are ``softmax(model(**tokenizer(text)).logits[0])``, named by ``config.id2label``.
* A causal LM (the bundled SmolLM2): zero-shot classification by label scoring. The text goes
  into a prompt template; each label is scored as that prompt's continuation,
  ``P(label) = prod_i p(label_i | prompt, label_<i)``, and the scores are normalised over the labels.

Importing this module does not import torch (the app imports it before a model loads); every
function that computes runs on the engine thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from workbench.engine.errors import PromptError, SettingsError

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

# A plain completion prompt, not a chat template: what the model sees is exactly what the user
# sees and edits, it works for base and instruct models alike, and the label follows
# "Sentiment:" as the next word of the document. With the bundled SmolLM2-135M it ranks the
# sentiment of short reviews correctly where a chat-templated instruction did no better
# (measured; see tests/unit/test_classify.py).
DEFAULT_TEMPLATE = "Review: {text}\nSentiment:"
DEFAULT_LABELS = ("positive", "negative")
PLACEHOLDER = "{text}"
MAX_LABELS = 50

Method = Literal["classifier", "zero-shot"]


@dataclass(frozen=True, slots=True)
class TokenScore:
    """One token of a label's continuation and ``p(token | prompt, earlier label tokens)``."""

    token_id: int
    label: str  # the token as shown (whitespace and bytes visible, control characters inert)
    p: float


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    p: float  # normalised over the labels
    score: float  # classifier: the logit; zero-shot: log P(label | prompt), unnormalised
    tokens: tuple[TokenScore, ...] = ()  # zero-shot only


@dataclass(frozen=True, slots=True)
class TokenEffect:
    """One input token of a classifier and what leaving it out does to the top label.

    ``delta = p_without - p``: the top label's probability with this token removed from the
    input ids (special tokens kept) minus its probability on the whole input. A negative delta
    means the token was pushing towards the top label; a positive one, away from it.
    """

    position: int  # index in the model's input ids (special tokens included)
    token_id: int
    label: str  # the token as shown (whitespace and bytes visible, control characters inert)
    p_without: float
    delta: float


@dataclass(frozen=True, slots=True)
class Classification:
    method: Method
    text: str
    labels: tuple[LabelScore, ...]  # most probable first
    template: str | None = None  # zero-shot: the template and the prompt it gave
    prompt: str | None = None
    input_tokens: int = 0
    truncated: bool = False  # classifier: the text was cut to the model's maximum length
    effects: tuple[TokenEffect, ...] = ()  # classifier, when asked: leave-one-out, in input order

    @property
    def top(self) -> LabelScore:
        return self.labels[0]


# --- validation (pure Python) ------------------------------------------------------------


def parse_labels(labels: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a, b,c"`` or a sequence -> ``("a", "b", "c")``; at least two, all different."""
    if labels is None:
        return DEFAULT_LABELS
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    parsed = tuple(item.strip() for item in items if item.strip())
    if len(parsed) < 2:
        raise SettingsError(
            "give at least two labels, separated by commas, e.g. positive,negative"
            if parsed
            else "no labels given; give at least two, separated by commas, e.g. positive,negative"
        )
    if len(parsed) > MAX_LABELS:
        raise SettingsError(f"at most {MAX_LABELS} labels, not {len(parsed)}")
    seen: set[str] = set()
    for label in parsed:
        if label in seen:
            raise SettingsError(f"the label {label!r} is given twice; each label once")
        seen.add(label)
    return parsed


def check_template(template: str | None) -> str:
    """The template to use (the default for None); it must hold ``{text}``."""
    if template is None:
        return DEFAULT_TEMPLATE
    if PLACEHOLDER not in template:
        raise SettingsError(
            f"the template has no {PLACEHOLDER} placeholder for the text; e.g. {DEFAULT_TEMPLATE!r}"
        )
    return template


def check_text(text: str) -> str:
    if not text or not text.strip():
        raise PromptError("the text to classify is empty; give some text, e.g. 'I loved this film'")
    return text


def fill_template(template: str, text: str) -> str:
    """Every ``{text}`` replaced by the text; other braces are left as they are (no format())."""
    return template.replace(PLACEHOLDER, text)


def label_continuation(prompt: str, label: str) -> str:
    """The label as the prompt's next word: after a space, unless the prompt ends in whitespace."""
    return label if not prompt or prompt[-1].isspace() else " " + label


# --- computing (engine thread) -----------------------------------------------------------


def is_classifier(loaded: LoadedModel) -> bool:
    """True for a sequence-classification model (a head over labels rather than the vocabulary)."""
    return type(loaded.model).__name__.endswith("ForSequenceClassification")


def classify(
    loaded: LoadedModel,
    text: str,
    labels: str | Sequence[str] | None = None,
    template: str | None = None,
    effects: bool = False,
) -> Classification:
    """Classify with the model's head if it has one, else by zero-shot label scoring.

    ``effects``: for a classifier, also each token's leave-one-out effect on the top label
    (:func:`leave_one_out`); ignored for zero-shot scoring.
    """
    check_options(loaded, labels, template)
    if is_classifier(loaded):
        return classify_with_head(loaded, text, effects=effects)
    return zero_shot(loaded, text, parse_labels(labels), check_template(template))


def check_options(loaded: LoadedModel, labels: object, template: object) -> None:
    """A classifier has its own labels: refuse zero-shot labels or a template for it."""
    if is_classifier(loaded) and (labels is not None or template is not None):
        names = ", ".join(class_labels(loaded))
        raise SettingsError(
            f"{loaded.source.display_name} is a classifier with its own labels ({names}); "
            "labels and a template are for zero-shot scoring with a causal language model"
        )


def label_names(loaded: LoadedModel, labels: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """The labels a result will hold, in their own order: the classifier's, or the zero-shot ones."""
    return tuple(class_labels(loaded)) if is_classifier(loaded) else parse_labels(labels)


def class_labels(loaded: LoadedModel) -> list[str]:
    """The classifier's labels in logit order, from ``config.id2label`` (LABEL_i where missing)."""
    config = loaded.model.config
    count = int(getattr(config, "num_labels", 0) or len(getattr(config, "id2label", {}) or {}))
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(count)]


def classify_with_head(loaded: LoadedModel, text: str, effects: bool = False) -> Classification:
    """``softmax(model(**tokenizer(text)).logits[0])`` with the labels of ``id2label``.

    ``effects``: also each token's leave-one-out effect on the top label (:func:`leave_one_out`).
    """
    import torch

    check_text(text)
    names = class_labels(loaded)
    limit = _max_length(loaded)
    encoded = loaded.tokenizer(
        text,
        return_tensors="pt",
        truncation=limit is not None,
        max_length=limit,
        return_special_tokens_mask=True,
    )
    special = [bool(v) for v in encoded.pop("special_tokens_mask")[0].tolist()]
    full_length = len(loaded.tokenizer(text)["input_ids"]) if limit is not None else 0
    inputs = {k: v.to(loaded.input_device) for k, v in encoded.items()}
    with torch.inference_mode():
        logits = loaded.model(**inputs).logits[0].float()
    probs = torch.softmax(logits, dim=-1).tolist()
    if len(probs) != len(names):
        names = [f"LABEL_{i}" for i in range(len(probs))]
    scores = [
        LabelScore(name, p, float(logit))
        for name, p, logit in zip(names, probs, logits.tolist(), strict=True)
    ]
    length = int(encoded["input_ids"].shape[1])
    ranked = _sorted(scores)
    found: tuple[TokenEffect, ...] = ()
    if effects:
        top = next(i for i, score in enumerate(scores) if score is ranked[0])
        found = leave_one_out(loaded, inputs, special, top, ranked[0].p)
    return Classification(
        "classifier",
        text,
        ranked,
        input_tokens=length,
        truncated=limit is not None and full_length > length,
        effects=found,
    )


LEAVE_ONE_OUT_BATCH = 32  # rows per forward pass: memory stays bounded for a 512-token text


def leave_one_out(
    loaded: LoadedModel,
    inputs: dict[str, Any],
    special: Sequence[bool],
    label_index: int,
    p_full: float,
) -> tuple[TokenEffect, ...]:
    """Each non-special token's effect on label ``label_index``: the input without that token.

    ``inputs`` are the classifier's tensors for one text (``input_ids``, ``attention_mask``,
    maybe ``token_type_ids``, all ``[1, n]``); ``special`` marks the special tokens, which are
    always kept and get no effect of their own. Every variant is ``n - 1`` tokens long, so they
    batch without padding; ``p_full`` is the label's probability on the whole input.
    """
    import torch

    ids = inputs["input_ids"][0]
    positions = [i for i, is_special in enumerate(special) if not is_special]
    if not positions:
        return ()
    # A decoder classifier reads its label at the last non-pad token; with no pad id defined it
    # refuses batches of more than one row, so such a model gets one variant per pass.
    pad_id = getattr(loaded.model.config, "pad_token_id", None)
    batch = LEAVE_ONE_OUT_BATCH if pad_id is not None else 1
    n = int(ids.shape[0])
    p_without: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(positions), batch):
            chunk = positions[start : start + batch]
            # Row r keeps every column except chunk[r]: a boolean keep-mask per row.
            keep = torch.ones(len(chunk), n, dtype=torch.bool, device=ids.device)
            keep[torch.arange(len(chunk)), torch.tensor(chunk)] = False
            variant = {
                name: tensor.expand(len(chunk), n)[keep].view(len(chunk), n - 1)
                for name, tensor in inputs.items()
            }
            logits = loaded.model(**variant).logits.float()
            p_without.extend(torch.softmax(logits, dim=-1)[:, label_index].tolist())
    token_ids = ids.tolist()
    return tuple(
        TokenEffect(i, int(token_ids[i]), loaded.table.label(int(token_ids[i])), p, p - p_full)
        for i, p in zip(positions, p_without, strict=True)
    )


def zero_shot(
    loaded: LoadedModel,
    text: str,
    labels: Sequence[str] = DEFAULT_LABELS,
    template: str = DEFAULT_TEMPLATE,
) -> Classification:
    """Score each label as the continuation of ``template`` filled with ``text``.

    Each label is scored over ``prompt ids + label ids`` (all labels in one batched forward
    pass); the label's token ``i`` is read from the logits at the position just before it. The
    prompt is encoded as completion text (``tokenizer(prompt)``) and the label on its own, so
    every label follows the same prompt ids.
    """
    import torch

    check_text(text)
    labels = parse_labels(labels)
    template = check_template(template)
    prompt = fill_template(template, text)
    tokenizer = loaded.tokenizer
    prompt_ids = list(tokenizer.encode(prompt, add_special_tokens=True))
    if not prompt_ids:
        raise PromptError("the prompt encodes to no tokens")
    context = loaded.context_length
    sequences = []
    for label in labels:
        label_ids = list(tokenizer.encode(label_continuation(prompt, label), add_special_tokens=False))
        if context is not None and len(prompt_ids) + len(label_ids) > context:
            raise PromptError(
                f"the prompt and label {label!r} are {len(prompt_ids) + len(label_ids)} tokens, more "
                f"than the model's context of {context}; shorten the text"
            )
        sequences.append(label_ids)
    # One forward pass for all labels: each row is prompt + label, padded on the right with
    # copies of its last token. In a causal model a position never attends to later ones, so
    # the padding changes no logit we read (and no attention mask is needed).
    width = len(prompt_ids) + max(len(ids) for ids in sequences)
    rows = [prompt_ids + ids + [ids[-1]] * (width - len(prompt_ids) - len(ids)) for ids in sequences]
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor(rows, device=loaded.input_device)).logits
    # The logits at position j predict token j + 1: a label's tokens are predicted by the
    # positions from the prompt's last token to the label's second-to-last.
    start = len(prompt_ids) - 1
    results = []
    for row, (label, label_ids) in enumerate(zip(labels, sequences, strict=True)):
        logp = torch.log_softmax(logits[row, start : start + len(label_ids)].float(), dim=-1)
        token_logp = logp.gather(1, torch.tensor(label_ids, device=logp.device)[:, None])[:, 0].tolist()
        tokens = tuple(
            TokenScore(tid, loaded.table.label(tid), math.exp(lp))
            for tid, lp in zip(label_ids, token_logp, strict=True)
        )
        results.append((label, math.fsum(token_logp), tokens))
    # Normalise over the labels: softmax of the labels' total log-probabilities.
    top = max(score for _, score, _ in results)
    weights = [math.exp(score - top) for _, score, _ in results]
    total = math.fsum(weights)
    scores = [
        LabelScore(label, weight / total, score, tokens)
        for (label, score, tokens), weight in zip(results, weights, strict=True)
    ]
    return Classification(
        "zero-shot", text, _sorted(scores), template=template, prompt=prompt, input_tokens=len(prompt_ids)
    )


def _sorted(scores: list[LabelScore]) -> tuple[LabelScore, ...]:
    return tuple(sorted(scores, key=lambda s: -s.p))


def _max_length(loaded: LoadedModel) -> int | None:
    """The longest input the classifier takes (its tokenizer's or its position embeddings')."""
    limit = getattr(loaded.tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    return loaded.context_length
