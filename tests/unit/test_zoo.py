"""The engine's truth across architecture families: tiny random models from tests/zoo.py.

For every family: ``p`` equals a direct softmax of ``model(ids).logits[:, -1]``; greedy and
seeded sampling equal ``model.generate``; step mode continues from the picked candidate; and
rewinding and switching branches, after the sequence has passed the sliding window, give the
distributions of a fresh computation, with the forward passes counted from outside the engine.

Tolerances (float32): the engine's cached path runs token by token, a fresh pass runs the whole
sequence at once, so sums are added in another order. Measured over the zoo (12 cached steps
and five branch moves each): max |p - p_fresh| 1.0e-6 to 2.4e-6, 4.5e-6 for Gemma 2 (softcapped
attention). ``P_TOLERANCE`` = 2e-5 leaves 4x margin; a wrong cache (transformers' crop below a
sliding window's kept keys) moved ``p`` by 0.28-0.58 on these peaked models.
"""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from tests.zoo import FAMILIES, SLIDING, WINDOW, counted_forwards, zoo_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings
from workbench.engine.stepping import Decision, StepChooser

P_TOLERANCE = 2e-5  # max |p_engine - p_fresh| over the vocabulary, float32
PROMPT = "The capital of France is"
NEW_TOKENS = 8  # with the prompt, past twice the sliding window (WINDOW tokens)
GREEDY = Sampler(SamplingSettings(do_sample=False))

every_family = pytest.mark.parametrize("family", FAMILIES)


def prompt_ids(loaded) -> list[int]:
    return loaded.tokenizer(PROMPT).input_ids


def fresh_p(loaded, ids: list[int]) -> torch.Tensor:
    """What every tutorial writes: softmax(model(ids).logits[:, -1], -1), no cache."""
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids])).logits[:, -1]
    return torch.softmax(logits.float(), -1)[0]


@every_family
def test_p_equals_a_direct_softmax_and_is_peaked(family):
    loaded = zoo_loaded(family)
    ids = prompt_ids(loaded)
    dist = Decoder(loaded, ids).distribution(Sampler(), top_k=10)
    ref = fresh_p(loaded, ids)
    top = torch.topk(ref, 10)
    assert [c.token_id for c in dist.candidates] == top.indices.tolist()
    assert dist.p.sub(ref).abs().max().item() < P_TOLERANCE
    # Peaked like a trained model, not near-uniform: a flat random init fails here.
    with torch.no_grad():
        every = torch.softmax(loaded.model(torch.tensor([ids])).logits[0].float(), -1)
    assert every.max(-1).values.median().item() > 0.2


@every_family
def test_greedy_equals_generate(family):
    loaded = zoo_loaded(family)
    ids = prompt_ids(loaded)
    settings = SamplingSettings(do_sample=False, max_new_tokens=NEW_TOKENS)
    ours = [s.token_id for s in Generation(Decoder(loaded, ids), Sampler(settings))]
    with torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([ids]), do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=2, pad_token_id=2
        )
    assert ours == out[0, len(ids) :].tolist()
    assert len(ids) + len(ours) > 2 * WINDOW


@every_family
def test_seeded_sampling_equals_generate(family):
    loaded = zoo_loaded(family)
    ids = prompt_ids(loaded)
    # temperature and top-k only: top-p and min-p (a sort of the whole vocabulary per token)
    # are proven against generate on the Llama in test_engine_truth.py; here it is the model.
    settings = SamplingSettings(
        temperature=0.9, top_k=30, top_p=1.0, min_p=0.0, seed=1234, max_new_tokens=NEW_TOKENS
    )
    ours = [s.token_id for s in Generation(Decoder(loaded, ids), Sampler(settings))]
    torch.manual_seed(1234)
    with torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([ids]),
            do_sample=True,
            temperature=0.9,
            top_k=30,
            top_p=1.0,
            max_new_tokens=NEW_TOKENS,
            eos_token_id=2,
            pad_token_id=2,
        )
    assert ours == out[0, len(ids) :].tolist()


@every_family
def test_step_mode_continues_from_the_picked_candidate(family):
    """Pick candidates of several ranks (and one greedy, one sampled step): each is the next
    token, and the next distribution is a fresh computation over the sequence with it."""
    loaded = zoo_loaded(family)
    ids = prompt_ids(loaded)
    ranks = iter([3, 1, "greedy", 5, "sample", 2, 4])
    seen = []

    def decide(dist) -> None:  # runs on the generation thread, while the chooser waits
        seen.append(dist)
        rank = next(ranks)
        if isinstance(rank, str):
            chooser.decide(Decision(rank))  # type: ignore[arg-type]
        else:
            chooser.decide(Decision("token", dist.candidates[rank - 1].token_id))

    chooser = StepChooser(on_waiting=decide)
    settings = SamplingSettings(seed=3, top_p=1.0, min_p=0.0, max_new_tokens=7)
    steps = list(Generation(Decoder(loaded, ids), Sampler(settings), chooser=chooser))
    assert len(steps) == 7
    picked = [s.token_id for s in steps]
    assert [s.rank for i, s in enumerate(steps) if i not in (2, 4)] == [3, 1, 5, 2, 4]
    assert [s.chosen_by for s in steps] == ["user", "user", "greedy", "user", "sample", "user", "user"]
    assert steps[2].token_id == seen[2].candidates[0].token_id
    for i in (1, 4, 6):  # the sequence continued from every pick
        assert seen[i].p.sub(fresh_p(loaded, ids + picked[:i])).abs().max().item() < P_TOLERANCE


@every_family
def test_rewind_and_branches_past_the_window_equal_a_fresh_computation(family):
    """Rewind, branch, switch back, and go back before an earlier branch point, all after the
    sequence has passed the sliding window; count the forward passes each one costs.

    Full-attention caches crop to any length: every move forwards one token. Sliding-window
    caches keep old keys until a crop, so the first rewind still crops; going back before
    that crop's window needs keys they no longer hold, and the engine recomputes the prefix.
    """
    loaded = zoo_loaded(family)
    prompt = prompt_ids(loaded)
    decoder = Decoder(loaded, prompt)
    for _ in range(NEW_TOKENS):
        decoder.step(GREEDY)
    full = decoder.ids
    decoder.distribution(GREEDY)
    assert len(full) > 2 * WINDOW
    sliding = family in SLIDING

    def check(ids: list[int], tokens: int) -> None:
        """The engine's distribution after ``ids`` is a fresh one, and cost one pass of ``tokens``."""
        with counted_forwards(loaded.model) as calls:
            p = decoder.distribution(GREEDY).p
        assert decoder.ids == ids
        assert calls == [tokens], f"{family}: forward passes {calls}, expected [{tokens}]"
        assert p.sub(fresh_p(loaded, ids)).abs().max().item() < P_TOLERANCE

    # 1. rewind three tokens: the cache is cropped (sliding layers too: they recorded the past)
    decoder.rewind(3)
    check(full[:-3], 1)
    # 2. a branch there: another token instead of the one generated
    other = next(c.token_id for c in decoder.distribution(GREEDY, 5).candidates if c.token_id != full[-3])
    branch = full[:-3] + [other, 42]
    decoder.reset_to(branch)
    check(branch, 2)
    # 3. switch back to the first branch, then to the second again
    decoder.reset_to(full)
    check(full, 3)
    decoder.reset_to(branch)
    check(branch, 2)
    # 4. back to just after the prompt, before the point of the earlier crops
    early = full[: len(prompt) + 1]
    decoder.reset_to(early)
    check(early, len(early) if sliding else 1)
    # 5. and forward again from there, past the window once more
    decoder.reset_to(full)
    check(full, len(full) - len(early))
    # 6. rewind, then go back below the window: transformers' crop would give a wrong cache
    # here, silently (the shape still fits), where step 4 would fail in the next forward pass
    decoder.rewind(2)
    check(full[:-2], 1)
    decoder.reset_to(full[:2])
    check(full[:2], 2 if sliding else 1)


@pytest.mark.parametrize("family", SLIDING)
def test_without_recorded_past_a_sliding_cache_is_recomputed_never_raised(family, monkeypatch):
    """transformers' own default: past the window, ``crop`` raises. The engine starts over."""
    loaded = zoo_loaded(family)
    cache = DynamicCache(config=loaded.model.config)
    with torch.no_grad():
        loaded.model(torch.tensor([list(range(100, 100 + 2 * WINDOW))]), cache=cache, use_cache=True)
    with pytest.raises(RuntimeError):
        cache.crop(-3)

    monkeypatch.setattr(DynamicCache, "activate_past_recording", lambda self: None)
    ids = prompt_ids(loaded) + list(range(100, 100 + 2 * WINDOW))
    decoder = Decoder(loaded, ids)
    decoder.distribution(GREEDY)
    decoder.rewind(3)
    with counted_forwards(loaded.model) as calls:
        p = decoder.distribution(GREEDY).p
    assert calls == [len(ids) - 3]  # the whole prefix, once
    assert p.sub(fresh_p(loaded, ids[:-3])).abs().max().item() < P_TOLERANCE
