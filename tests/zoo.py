"""A model zoo for tests: tiny random models of many architecture families, built offline.

Each family is built from its transformers config (no download), with the real SmolLM2
tokenizer's vocabulary, hidden size 32-64 and 2-4 layers, so a build takes well under a
second. Random weights give nearly flat distributions; the output projection is scaled (as in
``tests.models.tiny_loaded``) so the top candidate typically has p > 0.2, like a trained model.

Sliding-window families (Gemma 2, Gemma 3, Mistral) get a window of ``WINDOW`` tokens, so a
test passes it with a short sequence. ``ZOO`` maps a family name to its builder; ``zoo_loaded``
gives the cached ``LoadedModel`` (about 25 MB each, almost all of it the two 49152 x 64
vocabulary matrices; all eleven stay cached for the session).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from tests.models import smol_tokenizer

WINDOW = 4  # the sliding window of the sliding-window families, in tokens
BOS, EOS = 1, 2  # SmolLM2's <|im_start|> and <|im_end|>
OUTPUT_SCALE = 40.0  # the output projection's scale: the top candidate's p is then ~0.3-0.5
# Gemma 2's final logit softcap (tanh) squeezes large logits together: it needs a larger scale.
FAMILY_OUTPUT_SCALE = {"gemma2": 60.0}


def _common(**extra: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(smol_tokenizer()),
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": EOS,
        "tie_word_embeddings": False,
        **extra,
    }


def _llama3() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    )
    return LlamaForCausalLM(config)


def _gemma3() -> Any:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=512,
        sliding_window=WINDOW,
        # Gemma 3 ships five sliding layers to one full one; two to one keeps it small
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
    )
    return Gemma3ForCausalLM(config)


def _gemma2() -> Any:
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=512,
        sliding_window=WINDOW,
        attn_logit_softcapping=50.0,
        # Gemma 2 ships 30; at 30 random logits all saturate near the cap and p stays flat
        # (top p ~0.1). 100 still bends the largest logits (41 -> 39) through the same tanh.
        final_logit_softcapping=100.0,
    )
    return Gemma2ForCausalLM(config)


def _mistral() -> Any:
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        sliding_window=WINDOW,
    )
    return MistralForCausalLM(config)


def _qwen2() -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    return Qwen2ForCausalLM(config)


def _qwen3() -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
    )
    return Qwen3ForCausalLM(config)


def _phi3() -> Any:
    from transformers import Phi3Config, Phi3ForCausalLM

    config = Phi3Config(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        original_max_position_embeddings=512,
    )
    return Phi3ForCausalLM(config)


def _gpt2() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        **_common(),
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=512,
    )
    return GPT2LMHeadModel(config)


def _gpt_neox() -> Any:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
    )
    return GPTNeoXForCausalLM(config)


def _olmo2() -> Any:
    from transformers import Olmo2Config, Olmo2ForCausalLM

    config = Olmo2Config(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    return Olmo2ForCausalLM(config)


def _qwen2_moe() -> Any:
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

    config = Qwen2MoeConfig(
        **_common(),
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=64,
        num_experts=4,
        num_experts_per_tok=2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    return Qwen2MoeForCausalLM(config)


ZOO: dict[str, Callable[[], Any]] = {
    "llama3": _llama3,
    "gemma3": _gemma3,
    "gemma2": _gemma2,
    "mistral": _mistral,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "phi3": _phi3,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "olmo2": _olmo2,
    "qwen2_moe": _qwen2_moe,
}
FAMILIES = tuple(ZOO)
SLIDING = ("gemma3", "gemma2", "mistral")  # families whose cache has sliding-window layers


@functools.cache
def zoo_loaded(family: str, seed: int = 0) -> Any:
    """The family's tiny model wrapped as a ``LoadedModel`` (built once per process)."""
    from workbench.engine.loading import LoadedModel

    torch.manual_seed(seed)
    model = ZOO[family]().eval()
    # Random logits are nearly flat; a larger output scale gives peaked, realistic distributions.
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(FAMILY_OUTPUT_SCALE.get(family, OUTPUT_SCALE))
    return LoadedModel.wrap(model, smol_tokenizer(), name=f"tiny-random-{family}")


@contextmanager
def counted_forwards(model: Any) -> Iterator[list[int]]:
    """The number of tokens of each forward pass of ``model``, counted by a hook."""
    calls: list[int] = []

    def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls.append(int(ids.shape[1]))

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()
