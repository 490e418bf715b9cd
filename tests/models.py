"""Real models for tests: the bundled SmolLM2, and a tiny random Llama with SmolLM2's tokenizer."""

from __future__ import annotations

import functools
from typing import Any

import torch


@functools.lru_cache(maxsize=1)
def smol_tokenizer() -> Any:
    from workbench.engine.loading import load_tokenizer

    return load_tokenizer()


@functools.lru_cache(maxsize=2)
def tiny_loaded(seed: int = 0) -> Any:
    """A 2-layer, hidden-size-64 Llama, randomly initialised from a config (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from workbench.engine.loading import LoadedModel

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
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    # Random logits are nearly flat; a larger output scale gives peaked, realistic distributions.
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    return LoadedModel.wrap(model, tokenizer, name="tiny-random-llama")


@functools.lru_cache(maxsize=1)
def bundled_loaded(dtype: str = "float32") -> Any:
    from workbench.engine.loading import load_model
    from workbench.engine.settings import LoadSettings

    return load_model(LoadSettings(model="default", device="cpu", dtype=dtype))
