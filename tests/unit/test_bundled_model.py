"""Behaviour of the real bundled SmolLM2-135M-Instruct."""

from __future__ import annotations

import pytest
import torch

from tests.models import bundled_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.prompts import chat_prompt, completion_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings

pytestmark = pytest.mark.slow
GREEDY = SamplingSettings(do_sample=False, max_new_tokens=24)


@pytest.fixture(scope="module")
def smol():
    return bundled_loaded("float32")


def test_the_capital_of_france_is_paris(smol):
    prompt = completion_prompt(smol.tokenizer, "The capital of France is")
    dist = Decoder(smol, prompt.ids).distribution(Sampler(GREEDY), 5)
    assert dist.candidates[0].text == "␣Paris"
    generation = Generation(Decoder(smol, prompt.ids), Sampler(GREEDY))
    list(generation)
    assert generation.text.startswith(" Paris")


def test_chat_answers_with_paris(smol):
    prompt = chat_prompt(smol.tokenizer, [{"role": "user", "content": "What is the capital of France?"}])
    assert prompt.templated and prompt.text.endswith("<|im_start|>assistant\n")
    generation = Generation(Decoder(smol, prompt.ids), Sampler(GREEDY.updated(max_new_tokens=40)))
    steps = list(generation)
    assert "Paris" in generation.text
    assert generation.finish_reason == "eos" and steps[-1].is_end


def test_greedy_matches_generate_on_the_bundled_model(smol):
    prompt = chat_prompt(smol.tokenizer, [{"role": "user", "content": "Write a haiku about tokens."}])
    ours = [
        s.token_id for s in Generation(Decoder(smol, prompt.ids), Sampler(GREEDY.updated(max_new_tokens=48)))
    ]
    with torch.no_grad():
        out = smol.model.generate(torch.tensor([prompt.ids]), do_sample=False, max_new_tokens=48)
    assert ours == out[0, len(prompt.ids) :].tolist()


def test_multi_turn_chat_reuses_the_cache_of_the_earlier_turns(smol):
    messages = [{"role": "user", "content": "Name a colour."}]
    decoder = Decoder(smol, chat_prompt(smol.tokenizer, messages).ids)
    generation = Generation(decoder, Sampler(GREEDY))
    list(generation)
    messages += [
        {"role": "assistant", "content": generation.text},
        {"role": "user", "content": "Another one?"},
    ]
    next_prompt = chat_prompt(smol.tokenizer, messages).ids
    before = decoder.forwarded_tokens
    decoder.reset_to(next_prompt)
    decoder.set_prompt_length(len(next_prompt))
    dist = decoder.distribution(Sampler(GREEDY), 5)
    reused = decoder.forwarded_tokens - before
    assert reused < len(next_prompt) // 2  # most of the prompt came from the cache
    fresh = Decoder(smol, next_prompt).distribution(Sampler(GREEDY), 5)
    assert [c.token_id for c in dist.candidates] == [c.token_id for c in fresh.candidates]
    assert torch.allclose(dist.p, fresh.p, atol=1e-4)
