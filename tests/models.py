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


def scripted_model(script: str, hidden_size: int = 64) -> Any:
    """A tiny Llama that, after a chat prompt, answers ``script`` greedily and then ends.

    Built, not faked: every layer's output projection is zeroed, so each position's logits
    depend on its own token only, ``lm_head(norm(embed(token)))``. Each token of the chain
    (the prompt's last token, then the script's tokens) gets its own basis vector as its
    embedding, and the next token's lm_head row points along it: greedy decoding walks the
    chain, and the last script token leads to EOS. Script tokens must all differ.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from workbench.engine.loading import LoadedModel

    tokenizer = smol_tokenizer()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    chain = [int(ids[-1]), *tokenizer.encode(script, add_special_tokens=False), 2]
    if len(set(chain)) != len(chain) or len(chain) - 1 > hidden_size:
        raise ValueError("the script's tokens must all differ (and fit the hidden size)")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        model.lm_head.weight.zero_()
        for position, (token, following) in enumerate(zip(chain, chain[1:], strict=False)):
            model.model.embed_tokens.weight[token, position] = 1.0
            model.lm_head.weight[following, position] = 5.0
    return LoadedModel.wrap(model, tokenizer, name="scripted-llama")


def save_tiny_folder(folder: Any) -> Any:
    """The tiny model and the SmolLM2 tokenizer saved as a model folder the app can load."""
    tiny_loaded().model.save_pretrained(folder)
    smol_tokenizer().save_pretrained(folder)
    return folder
