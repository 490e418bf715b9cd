"""A tiny randomly initialised BERT masked LM for the fill-mask tests, built from a config offline."""

from __future__ import annotations

from pathlib import Path

import torch

# A small WordPiece vocabulary: the specials, whole words, and "##" pieces so subwords show.
WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *[
        "the",
        "capital",
        "of",
        "france",
        "is",
        "paris",
        "london",
        "berlin",
        "city",
        "a",
        "an",
        "and",
        "it",
        "was",
        "i",
        "love",
        "this",
    ],
    *["film", "programming", "wonderful", "terrible", "good", "bad", "big", "small", "."],
    ",",
    "!",
    "##s",
    "##ing",
    "##ed",
]


def save_bert_mlm(folder: Path, seed: int = 0, mask_token: str = "[MASK]") -> Path:
    """A 2-layer BertForMaskedLM (hidden size 32) with a WordPiece tokenizer over :data:`WORDS`.

    ``mask_token="<mask>"`` gives a tokenizer whose mask token is RoBERTa's spelling.
    """
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    words = [mask_token if w == "[MASK]" else w for w in WORDS]
    tokenizer = BertTokenizer(
        vocab={w: i for i, w in enumerate(words)}, do_lower_case=True, mask_token=mask_token
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        # Large random weights: peaked distributions that differ from one mask to the next
        # (with the usual 0.02 every position gives nearly the same, near-uniform answer).
        initializer_range=0.5,
    )
    model = BertForMaskedLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def direct_fill(folder: Path, text: str) -> list[tuple[int, torch.Tensor]]:
    """The tutorial's own code: ``softmax(model(**tok(text)).logits[0, mask])`` for each mask."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder, dtype=torch.float32).eval()
    inputs = tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    positions = (inputs["input_ids"][0] == tok.mask_token_id).nonzero()[:, 0].tolist()
    return [(pos, torch.softmax(logits[0, pos], dim=-1)) for pos in positions]
