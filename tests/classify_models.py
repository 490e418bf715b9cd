"""Tiny randomly initialised sequence classifiers for the classify tests, built from configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tests.models import smol_tokenizer

LABELS = {0: "negative", 1: "neutral", 2: "positive"}
BERT_WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *[
        "i",
        "loved",
        "love",
        "this",
        "film",
        "it",
        "was",
        "wonderful",
        "terrible",
        "boring",
        "and",
        "the",
        "movie",
        "programming",
        ",",
        ".",
        "!",
    ],
]


def save_llama_classifier(folder: Path, seed: int = 0) -> Path:
    """A 2-layer LlamaForSequenceClassification with the real SmolLM2 tokenizer and 3 labels."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = smol_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = LlamaForSequenceClassification(config).eval()
    with torch.no_grad():  # a larger head: probabilities well away from uniform
        model.score.weight.mul_(20.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_distilbert_classifier(folder: Path, seed: int = 0) -> Path:
    """An encoder-only classifier (the seed's sentiment model's family), with a small WordPiece vocabulary."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizer

    torch.manual_seed(seed)
    tokenizer = DistilBertTokenizer(vocab={w: i for i, w in enumerate(BERT_WORDS)})
    labels = {0: "NEGATIVE", 1: "POSITIVE"}
    config = DistilBertConfig(
        vocab_size=len(BERT_WORDS),
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    model = DistilBertForSequenceClassification(config).eval()
    with torch.no_grad():  # larger head weights: probabilities (and token effects) away from uniform
        model.pre_classifier.weight.mul_(10.0)
        model.classifier.weight.mul_(10.0)
        for layer in model.distilbert.transformer.layer:  # sharper attention: each token matters more
            layer.attention.q_lin.weight.mul_(4.0)
            layer.attention.k_lin.weight.mul_(4.0)
            layer.attention.v_lin.weight.mul_(4.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def direct_softmax(folder: Path, text: str) -> dict[str, float]:
    """The seed's own code: ``softmax(model(**tok(text)).logits)``, labels from id2label."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        probs = torch.softmax(model(**tok(text, return_tensors="pt")).logits, dim=-1)[0]
    return {model.config.id2label[i]: float(p) for i, p in enumerate(probs)}


def direct_zero_shot(loaded: Any, prompt: str, labels: list[str]) -> dict[str, tuple[float, list[float]]]:
    """One plain forward pass per label over prompt + label: (normalised P, each token's p)."""
    tok, model = loaded.tokenizer, loaded.model
    prompt_ids = tok.encode(prompt)
    raw = {}
    for label in labels:
        label_ids = tok.encode(" " + label, add_special_tokens=False)
        ids = torch.tensor([prompt_ids + label_ids])
        with torch.no_grad():
            probs = torch.softmax(model(ids).logits[0].float(), dim=-1)
        ps = [float(probs[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(label_ids)]
        raw[label] = ps
    products = {label: float(torch.tensor(ps, dtype=torch.float64).prod()) for label, ps in raw.items()}
    total = sum(products.values())
    return {label: (products[label] / total, raw[label]) for label in labels}


def direct_leave_one_out(folder: Path, text: str) -> tuple[str, list[tuple[int, float]]]:
    """The top label, and for each non-special position i: P(top | ids without i) - P(top | ids).

    One plain forward pass per variant (no batching), special tokens kept.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
    ids = tok(text)["input_ids"]
    special = set(tok.all_special_ids)
    with torch.no_grad():
        full = torch.softmax(model(torch.tensor([ids])).logits[0], dim=-1)
        top = int(full.argmax())
        effects = []
        for i, token in enumerate(ids):
            if token in special:
                continue
            without = ids[:i] + ids[i + 1 :]
            p = torch.softmax(model(torch.tensor([without])).logits[0], dim=-1)[top]
            effects.append((i, float(p - full[top])))
    return model.config.id2label[top], effects


def save_bert_masked_lm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BertForMaskedLM with the small WordPiece vocabulary: an encoder-only masked LM."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(BERT_WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertForMaskedLM(config).eval().save_pretrained(folder)
    BertTokenizer(vocab={w: i for i, w in enumerate(BERT_WORDS)}).save_pretrained(folder)
    return folder
