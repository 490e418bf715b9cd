"""Step mode, picking candidates and branches, against the tiny model."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.models import tiny_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings
from workbench.engine.stepping import Decision, StepChooser


@pytest.fixture(scope="module")
def tiny():
    return tiny_loaded()


def ids_of(tiny, text="Once upon a time"):
    return tiny.tokenizer(text).input_ids


def run_in_thread(generation):
    steps = []
    thread = threading.Thread(target=lambda: steps.extend(generation), daemon=True)
    thread.start()
    return thread, steps


def wait_for(chooser, previous=None, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dist = chooser.waiting
        if dist is not None and dist is not previous:
            return dist
        time.sleep(0.005)
    raise AssertionError("no distribution waiting")


@pytest.mark.parametrize("rank", [1, 3, 9])
def test_picking_candidate_r_makes_the_next_token_exactly_that_candidate(tiny, rank):
    chooser = StepChooser()
    generation = Generation(
        Decoder(tiny, ids_of(tiny)), Sampler(SamplingSettings(max_new_tokens=2)), chooser=chooser
    )
    thread, steps = run_in_thread(generation)
    dist = wait_for(chooser)
    wanted = dist.candidates[rank - 1]
    chooser.decide(Decision("token", wanted.token_id))
    second = wait_for(chooser, dist)
    chooser.stop()
    thread.join(10)
    assert steps[0].token_id == wanted.token_id and steps[0].chosen_by == "user"
    assert steps[0].rank == rank and steps[0].p == pytest.approx(wanted.p)
    assert second is not dist


def test_greedy_and_sample_steps(tiny):
    chooser = StepChooser()
    settings = SamplingSettings(seed=5, max_new_tokens=3)
    generation = Generation(Decoder(tiny, ids_of(tiny)), Sampler(settings), chooser=chooser)
    thread, steps = run_in_thread(generation)
    dist = wait_for(chooser)
    chooser.decide(Decision("greedy"))
    dist2 = wait_for(chooser, dist)
    chooser.decide(Decision("sample"))
    dist3 = wait_for(chooser, dist2)
    chooser.decide(Decision("sample"))
    thread.join(10)
    assert steps[0].token_id == dist.candidates[0].token_id and steps[0].chosen_by == "greedy"
    assert steps[1].chosen_by == "sample" and steps[1].q > 0
    assert dist3 is not None and len(steps) == 3 and generation.finish_reason == "length"


def test_reweighting_while_paused_needs_no_forward_pass_and_equals_a_fresh_computation(tiny):
    chooser = StepChooser()
    decoder = Decoder(tiny, ids_of(tiny))
    generation = Generation(
        decoder, Sampler(SamplingSettings(temperature=1.0, max_new_tokens=1)), chooser=chooser
    )
    thread, steps = run_in_thread(generation)
    wait_for(chooser)
    passes = decoder.forward_passes
    hot = SamplingSettings(temperature=2.0, top_k=0, top_p=1.0, min_p=0.0)
    reweighted = chooser.reweight(hot)
    assert decoder.forward_passes == passes
    fresh = Decoder(tiny, ids_of(tiny)).distribution(Sampler(hot), 10)
    assert torch.allclose(reweighted.q, fresh.q, atol=1e-7)
    assert [c.q for c in reweighted.candidates] == pytest.approx([c.q for c in fresh.candidates])
    chooser.decide(Decision("sample"))
    thread.join(10)
    # the token is recorded with the q of the settings it was chosen under
    assert steps[0].q == pytest.approx(reweighted.q[steps[0].token_id].item())
    assert generation.settings_changes[-1][1]["temperature"] == 2.0


def test_playing_samples_by_itself_and_cancel_stops_a_waiting_step(tiny):
    cancel = threading.Event()
    chooser = StepChooser(cancel=cancel, playing=True, delay=0.0)
    generation = Generation(
        Decoder(tiny, ids_of(tiny)),
        Sampler(SamplingSettings(seed=1, max_new_tokens=6)),
        cancel=cancel,
        chooser=chooser,
    )
    thread, steps = run_in_thread(generation)
    thread.join(10)
    assert len(steps) == 6 or steps[-1].is_end
    paused = StepChooser(cancel=cancel)
    cancel.clear()
    generation = Generation(Decoder(tiny, ids_of(tiny)), Sampler(), cancel=cancel, chooser=paused)
    thread, steps = run_in_thread(generation)
    wait_for(paused)
    cancel.set()
    thread.join(10)
    assert not thread.is_alive() and steps == [] and generation.finish_reason == "cancelled"


def test_branch_from_token_i_reuses_the_prefix_and_gives_fresh_distributions(tiny):
    prompt = ids_of(tiny)
    decoder = Decoder(tiny, prompt)
    greedy = Sampler(SamplingSettings(do_sample=False, max_new_tokens=12))
    original = list(
        Generation(
            decoder,
            greedy,
            chooser=lambda d: (next(c.token_id for c in d.candidates if c.token_id != 2), "sample"),
        )
    )
    i = 5
    prefix = [s.token_id for s in original[:i]]
    alternative = original[i].candidates[3].token_id
    before_passes, before_tokens = decoder.forward_passes, decoder.forwarded_tokens
    decoder.reset_to(prompt + prefix)
    decoder.set_prompt_length(len(prompt))
    chooser = StepChooser()
    chooser.first_token = alternative
    chooser.set_playing(True, 0.0)
    branch = Generation(decoder, greedy, chooser=chooser, resume_steps=original[:i], max_new_tokens=9)
    yielded = list(branch)
    steps = branch.steps  # the resumed prefix and the new tokens; only the new ones are yielded
    assert yielded == steps[i:]
    # only the last prefix token was recomputed: the prompt and 4 reply tokens came from the cache
    assert decoder.forwarded_tokens - before_tokens == 1 + (len(steps) - i - 1)
    assert decoder.forward_passes - before_passes == len(steps) - i
    assert [s.token_id for s in steps[:i]] == prefix and steps[i].token_id == alternative
    assert steps[i].chosen_by == "user" and steps[i].index == i
    assert branch.text.startswith("".join(s.text for s in original[:i]))
    # the branch's distributions equal a fresh computation of the same sequence
    fresh = Decoder(tiny, prompt + prefix + [alternative]).distribution(greedy, 10)
    assert [c.token_id for c in steps[i + 1].candidates] == [c.token_id for c in fresh.candidates]
    assert [c.p for c in steps[i + 1].candidates] == pytest.approx([c.p for c in fresh.candidates], abs=1e-6)
