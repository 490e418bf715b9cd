"""Sampling settings changed mid-reply keep the reply's seeded random stream.

The reference is a hand-written loop over the same tiny model: one ``torch.Generator`` seeded
once, ``softmax(logits / temperature)`` and ``torch.multinomial`` per token, the temperature
switching at token N. A reply whose settings change at token N (through
``Generation.update_sampling``, or a re-weight while paused in step mode) must give exactly
its tokens. Restarting the stream from the seed at N (what swapping in a new ``Sampler`` did)
repeats the first draws and gives other tokens.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tests.models import tiny_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings
from workbench.engine.stepping import Decision, StepChooser

SEED = 7
COOL = SamplingSettings(seed=SEED, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_new_tokens=16)
HOT = COOL.updated(temperature=1.7)  # changes q: the draws stay comparable, the tokens differ
SWITCH_AT = 6


@pytest.fixture(scope="module")
def tiny():
    return tiny_loaded()


def prompt_ids(tiny):
    return tiny.tokenizer("Once upon a time").input_ids


def reference(
    tiny, count: int, switch_at: int, after: SamplingSettings = HOT, reseed: int | None = None
) -> list[int]:
    """The tokens of one seeded generator throughout, the temperature switching at ``switch_at``
    (and, given ``reseed``, a generator seeded with it from there on)."""
    decoder = Decoder(tiny, prompt_ids(tiny))
    device = decoder.logits().device
    generator = torch.Generator(device=device).manual_seed(SEED)
    tokens = []
    for index in range(count):
        if index == switch_at and reseed is not None:
            generator = torch.Generator(device=device).manual_seed(reseed)
        temperature = (COOL if index < switch_at else after).temperature
        logits = decoder.logits()
        q = torch.softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)
        token = int(torch.multinomial(q, num_samples=1, generator=generator)[0])
        tokens.append(token)
        if token in tiny.eos_token_ids:
            break
        decoder.advance(token)
    return tokens


def from_another_thread(action) -> None:
    """Run ``action`` on a thread of its own and wait for it, re-raising what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def test_the_reference_differs_from_a_restarted_stream(tiny):
    # Guards the tests below: with this seed and model a restart at SWITCH_AT is visible.
    full = reference(tiny, COOL.max_new_tokens, SWITCH_AT)
    assert len(full) == COOL.max_new_tokens  # no end-of-text token cuts the comparison short
    restarted_hot = reference(tiny, COOL.max_new_tokens - SWITCH_AT, 0)
    assert full[SWITCH_AT:] != restarted_hot
    assert full != reference(tiny, COOL.max_new_tokens, SWITCH_AT, reseed=SEED + 1)


def test_update_sampling_mid_reply_keeps_the_seeded_stream(tiny):
    generation = Generation(Decoder(tiny, prompt_ids(tiny)), Sampler(COOL))
    tokens = []
    for step in generation:
        tokens.append(step.token_id)
        if len(tokens) == SWITCH_AT:  # the UI thread changes a setting while the reply runs
            from_another_thread(lambda: generation.update_sampling(HOT))
    assert tokens == reference(tiny, COOL.max_new_tokens, SWITCH_AT)
    assert generation.settings_changes == [(0, COOL.to_dict()), (SWITCH_AT, HOT.to_dict())]


def test_a_setting_that_leaves_q_alone_changes_no_token(tiny):
    plain = [s.token_id for s in Generation(Decoder(tiny, prompt_ids(tiny)), Sampler(COOL))]
    generation = Generation(Decoder(tiny, prompt_ids(tiny)), Sampler(COOL))
    tokens = []
    for step in generation:
        tokens.append(step.token_id)
        if len(tokens) == SWITCH_AT:
            # top_k = vocabulary size cuts nothing: q is unchanged, so must be every draw
            from_another_thread(lambda: generation.update_sampling(COOL.updated(top_k=len(tiny.tokenizer))))
    assert tokens == plain


def test_a_new_seed_starts_a_new_stream(tiny):
    generation = Generation(Decoder(tiny, prompt_ids(tiny)), Sampler(COOL))
    tokens = []
    for step in generation:
        tokens.append(step.token_id)
        if len(tokens) == SWITCH_AT:
            from_another_thread(lambda: generation.update_sampling(HOT.updated(seed=SEED + 1)))
    assert tokens == reference(tiny, COOL.max_new_tokens, SWITCH_AT, reseed=SEED + 1)


def wait_for(chooser: StepChooser, previous=None, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dist = chooser.waiting
        if dist is not None and dist is not previous:
            return dist
        time.sleep(0.002)
    raise AssertionError("no distribution waiting")


def test_reweighting_while_paused_samples_from_the_replys_stream(tiny):
    chooser = StepChooser()
    generation = Generation(
        Decoder(tiny, prompt_ids(tiny)), Sampler(COOL.updated(max_new_tokens=SWITCH_AT + 1)), chooser=chooser
    )
    steps = []
    thread = threading.Thread(target=lambda: steps.extend(generation), daemon=True)
    thread.start()
    dist = None
    for _ in range(SWITCH_AT):
        dist = wait_for(chooser, dist)
        chooser.decide(Decision("sample"))
    dist = wait_for(chooser, dist)
    reweighted = chooser.reweight(HOT)  # paused at token SWITCH_AT: a new q, same generator
    assert reweighted is not None and reweighted is not dist
    chooser.decide(Decision("sample"))
    thread.join(30)
    assert [s.token_id for s in steps] == reference(tiny, SWITCH_AT + 1, SWITCH_AT)


def test_update_sampling_while_paused_reweights_the_waiting_token(tiny):
    chooser = StepChooser()
    generation = Generation(Decoder(tiny, prompt_ids(tiny)), Sampler(COOL), chooser=chooser)
    steps = []
    thread = threading.Thread(target=lambda: steps.extend(generation), daemon=True)
    thread.start()
    dist = None
    for index in range(COOL.max_new_tokens):
        dist = wait_for(chooser, dist)
        if index == SWITCH_AT:
            from_another_thread(lambda: generation.update_sampling(HOT))  # one handoff for both
            dist = wait_for(chooser, dist)  # the waiting token, re-weighted: no forward pass
            assert dist.sampler.settings == HOT
        chooser.decide(Decision("sample"))
    thread.join(30)
    assert [s.token_id for s in steps] == reference(tiny, COOL.max_new_tokens, SWITCH_AT)
