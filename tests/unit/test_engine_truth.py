"""The numbers the engine reports are the model's own: checked against hand-written tutorial code."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.models import tiny_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.errors import PromptError
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def tiny():
    return tiny_loaded()


def prompt_ids(tiny, text: str = PROMPT) -> list[int]:
    return tiny.tokenizer(text).input_ids


def reference_p(tiny, ids: list[int]) -> torch.Tensor:
    """What every tutorial writes: softmax(model(ids).logits[:, -1], -1)."""
    with torch.no_grad():
        logits = tiny.model(torch.tensor([ids])).logits[:, -1]
    return torch.softmax(logits, -1)[0]


def reference_q(
    logits: torch.Tensor, temperature: float, top_k: int, top_p: float, min_p: float
) -> torch.Tensor:
    """The sampling distribution computed by hand, independently of transformers' warpers."""
    scores = logits / temperature
    kth = torch.topk(scores, top_k).values[-1]
    scores = torch.where(scores < kth, torch.tensor(float("-inf")), scores)
    probs = torch.softmax(scores, -1)
    order = torch.argsort(probs, descending=True)
    cumulative = torch.cumsum(probs[order], 0)
    # keep the smallest set whose mass reaches top_p (the token that crosses it stays)
    drop_sorted = (cumulative - probs[order]) >= top_p
    keep = torch.ones_like(probs, dtype=torch.bool)
    keep[order[drop_sorted]] = False
    probs = torch.where(probs >= min_p * probs.max(), probs, torch.zeros_like(probs))
    probs = torch.where(keep, probs, torch.zeros_like(probs))
    return probs / probs.sum()


def test_top_k_equals_direct_softmax(tiny):
    ids = prompt_ids(tiny)
    dist = Decoder(tiny, ids).distribution(Sampler(), top_k=10)
    ref = reference_p(tiny, ids)
    top = torch.topk(ref, 10)
    assert [c.token_id for c in dist.candidates] == top.indices.tolist()
    for cand, expected in zip(dist.candidates, top.values.tolist(), strict=True):
        assert cand.p == pytest.approx(expected, abs=1e-6)
    entropy = -(ref * torch.log(ref)).sum().item()
    assert dist.entropy == pytest.approx(entropy, rel=1e-4)


def test_cached_steps_equal_a_fresh_forward_pass(tiny):
    ids = prompt_ids(tiny)
    decoder = Decoder(tiny, ids)
    for token in (42, 1123, 7042, 198):
        decoder.distribution(Sampler(), 5)
        decoder.advance(token)
    dist = decoder.distribution(Sampler(), 5)
    ref = reference_p(tiny, ids + [42, 1123, 7042, 198])
    assert [c.token_id for c in dist.candidates] == torch.topk(ref, 5).indices.tolist()
    assert dist.p.sub(ref).abs().max().item() < 1e-5
    assert decoder.forward_passes == 5  # one prefill, then one token at a time


def test_q_equals_hand_computed_sampling_distribution(tiny):
    ids = prompt_ids(tiny)
    settings = SamplingSettings(temperature=0.7, top_k=20, top_p=0.8, min_p=0.05)
    dist = Decoder(tiny, ids).distribution(Sampler(settings), 10)
    with torch.no_grad():
        logits = tiny.model(torch.tensor([ids])).logits[0, -1]
    expected = reference_q(logits, 0.7, 20, 0.8, 0.05)
    assert torch.allclose(dist.q, expected, atol=1e-6)
    # candidates the warpers cut are reported with q == 0
    assert any(c.removed for c in dist.candidates) == bool(
        (expected[[c.token_id for c in dist.candidates]] == 0).any()
    )


def test_greedy_q_is_one_hot_at_the_argmax(tiny):
    dist = Decoder(tiny, prompt_ids(tiny)).distribution(Sampler(SamplingSettings(do_sample=False)), 5)
    assert dist.candidates[0].q == 1.0
    assert all(c.q == 0.0 for c in dist.candidates[1:])
    assert dist.q.sum().item() == 1.0


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_matches_model_generate_token_for_token(tiny, penalty):
    ids = prompt_ids(tiny)
    settings = SamplingSettings(do_sample=False, repetition_penalty=penalty, max_new_tokens=40)
    generation = Generation(Decoder(tiny, ids), Sampler(settings), top_k=10)
    ours = [step.token_id for step in generation]
    with torch.no_grad():
        out = tiny.model.generate(
            torch.tensor([ids]),
            do_sample=False,
            max_new_tokens=40,
            repetition_penalty=penalty,
            eos_token_id=2,
            pad_token_id=2,
        )
    assert ours == out[0, len(ids) :].tolist()


def test_seeded_sampling_is_reproducible_and_equals_generate(tiny):
    ids = prompt_ids(tiny)
    settings = SamplingSettings(temperature=0.9, top_k=30, top_p=0.95, seed=1234, max_new_tokens=30)
    first = [s.token_id for s in Generation(Decoder(tiny, ids), Sampler(settings))]
    second = [s.token_id for s in Generation(Decoder(tiny, ids), Sampler(settings))]
    assert first == second
    torch.manual_seed(1234)
    with torch.no_grad():
        out = tiny.model.generate(
            torch.tensor([ids]),
            do_sample=True,
            temperature=0.9,
            top_k=30,
            top_p=0.95,
            min_p=settings.min_p,
            max_new_tokens=30,
            eos_token_id=2,
            pad_token_id=2,
        )
    assert first == out[0, len(ids) :].tolist()
    other = [s.token_id for s in Generation(Decoder(tiny, ids), Sampler(settings.updated(seed=99)))]
    assert other != first


def test_step_records_the_chosen_tokens_p_q_and_rank(tiny):
    ids = prompt_ids(tiny)
    decoder = Decoder(tiny, ids)
    ref = reference_p(tiny, ids)
    token = int(torch.argsort(ref, descending=True)[7])  # the 8th most probable token
    step, dist = decoder.step(Sampler(), top_k=5, token_id=token)
    assert step.token_id == token and step.chosen_by == "user"
    assert step.rank == 8
    assert step.p == pytest.approx(ref[token].item(), abs=1e-6)
    assert decoder.ids == ids + [token]
    assert dist.candidate(token).p == pytest.approx(step.p)


def test_rewind_and_reset_reuse_the_cached_prefix(tiny):
    ids = prompt_ids(tiny)
    decoder = Decoder(tiny, ids)
    sampler = Sampler(SamplingSettings(do_sample=False))
    for _ in range(6):
        decoder.step(sampler)
    full = decoder.ids
    decoder.distribution(sampler)
    passes, tokens = decoder.forward_passes, decoder.forwarded_tokens
    decoder.rewind(3)
    dist = decoder.distribution(sampler, 10)
    assert decoder.forward_passes == passes + 1
    assert decoder.forwarded_tokens == tokens + 1  # only the last kept token is recomputed
    fresh = Decoder(tiny, full[:-3]).distribution(sampler, 10)
    assert torch.allclose(dist.p, fresh.p, atol=1e-6)
    # branch: same prefix, another token at the end
    decoder.reset_to(full[:-3] + [5])
    before = decoder.forwarded_tokens
    branched = decoder.distribution(sampler, 10)
    assert decoder.forwarded_tokens == before + 1
    assert torch.allclose(branched.p, Decoder(tiny, full[:-3] + [5]).distribution(sampler).p, atol=1e-6)


def test_max_new_tokens_ends_with_length(tiny):
    generation = Generation(
        Decoder(tiny, prompt_ids(tiny)), Sampler(SamplingSettings(seed=1, max_new_tokens=7))
    )
    generation.chooser = lambda dist: (next(c.token_id for c in dist.candidates if c.token_id != 2), "sample")
    steps = list(generation)
    assert len(steps) == 7
    assert generation.finish_reason == "length"


def test_eos_stops_generation(tiny):
    picks = iter([(42, "user"), (2, "user"), (43, "user")])
    generation = Generation(Decoder(tiny, prompt_ids(tiny)), Sampler(), chooser=lambda dist: next(picks))
    steps = list(generation)
    assert [s.token_id for s in steps] == [42, 2]
    assert steps[-1].is_end and generation.finish_reason == "eos"


def test_cancel_from_another_thread_stops_between_tokens(tiny):
    cancel = threading.Event()
    generation = Generation(
        Decoder(tiny, prompt_ids(tiny)), Sampler(SamplingSettings(seed=3, max_new_tokens=50)), cancel=cancel
    )
    # the random model may end early; force non-EOS tokens so the count is exact
    generation.chooser = lambda dist: (next(c.token_id for c in dist.candidates if c.token_id != 2), "sample")
    seen = []
    for step in generation:
        seen.append(step)
        if len(seen) == 3:
            setter = threading.Thread(target=cancel.set)
            setter.start()
            setter.join()
    assert len(seen) == 3
    assert generation.finish_reason == "cancelled"


def test_split_character_appears_once_and_whole(tiny):
    ids = tiny.tokenizer.encode("Look:", add_special_tokens=False)
    emoji_ids = tiny.tokenizer.encode(" 🤗!", add_special_tokens=False)
    assert len(emoji_ids) >= 3  # the emoji spans several byte tokens
    picks = iter([(t, "user") for t in emoji_ids])
    generation = Generation(Decoder(tiny, ids), Sampler(), chooser=lambda dist: next(picks, None))
    steps = list(generation)
    assert generation.text == " 🤗!"
    assert "\ufffd" not in "".join(s.text for s in steps)
    assert [s.text for s in steps[:-1]].count(" 🤗") == 1
    assert steps[0].kind == "bytes" and steps[0].text == ""


def test_context_limit(tiny):
    long_ids = [42] * 600
    with pytest.raises(PromptError, match="context"):
        Decoder(tiny, long_ids)
    ids = [42] * 505
    generation = Generation(Decoder(tiny, ids), Sampler(SamplingSettings(seed=0, max_new_tokens=50)))
    generation.chooser = lambda dist: (43, "user")
    steps = list(generation)
    assert len(steps) == 512 - 505
    assert generation.finish_reason == "context"


def test_reweighting_reuses_logits_and_equals_fresh_computation(tiny):
    ids = prompt_ids(tiny)
    decoder = Decoder(tiny, ids)
    dist = decoder.distribution(Sampler(SamplingSettings(temperature=1.0)), 10)
    passes = decoder.forward_passes
    hotter = dist.reweighted(SamplingSettings(temperature=1.8, top_k=0))
    assert decoder.forward_passes == passes
    fresh = Decoder(tiny, ids).distribution(Sampler(SamplingSettings(temperature=1.8, top_k=0)), 10)
    assert torch.allclose(hotter.q, fresh.q, atol=1e-7)
    assert [c.q for c in hotter.candidates] == pytest.approx([c.q for c in fresh.candidates])
    # p never depends on sampling settings
    assert [c.p for c in hotter.candidates] == [c.p for c in dist.candidates]


def test_advance_rejects_ids_outside_the_vocabulary(tiny):
    decoder = Decoder(tiny, prompt_ids(tiny))
    with pytest.raises(ValueError, match="vocabulary"):
        decoder.advance(10**7)
