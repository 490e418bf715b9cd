"""--compile's static KV cache: greedy output equals ``generate(cache_implementation="static")``,
and going back (rewind, reset_to, branches, two decoders) still gives the model's own logits.

The static-cache path runs here without torch.compile (the same caches and cache positions;
only the step is not compiled). The compiled step is checked by ``test_compiled_step`` below,
behind the ``compile`` marker, because compiling is slow on this shared 2-core machine: with an
empty inductor cache (TORCHINDUCTOR_CACHE_DIR) the first compile took 101.7 s and the second
cache size 30.5 s (the whole test 2.5 min, at load average 4-7); with torch's inductor cache
warm, 6.1 s and 1.4 s. It runs when WORKBENCH_TEST_COMPILE=1, which ``make test`` sets.
"""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
import torch

from tests.models import smol_tokenizer, tiny_loaded
from tests.zoo import FAMILIES, zoo_loaded
from workbench.engine.compiled import FIRST_SIZE, enable_static_decoding
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def plain():
    return tiny_loaded()


@pytest.fixture(scope="module")
def static(plain):
    loaded = dataclasses.replace(plain, _provenance=None)  # the same model, its own static caches
    assert enable_static_decoding(loaded, compile=False) is not None
    return loaded


def greedy_ids(loaded, ids: list[int], count: int) -> tuple[list[int], Generation]:
    generation = Generation(
        Decoder(loaded, ids), Sampler(SamplingSettings(do_sample=False, max_new_tokens=count)), top_k=0
    )
    return [step.token_id for step in generation], generation


def generate_static(model, ids: list[int], count: int) -> list[int]:
    out = model.generate(
        torch.tensor([ids]), do_sample=False, max_new_tokens=count, cache_implementation="static"
    )
    return out[0, len(ids) :].tolist()


def assert_logits_of(loaded, plain, ids: list[int], decoder: Decoder) -> None:
    expected = Decoder(plain, ids).logits()
    assert decoder.ids == ids
    torch.testing.assert_close(decoder.logits(), expected, rtol=1e-4, atol=1e-4)


def test_static_greedy_equals_generate_with_a_static_cache(static, plain):
    ids = smol_tokenizer().encode(PROMPT)
    tokens, generation = greedy_ids(static, ids, 12)
    assert tokens == generate_static(plain.model, ids, 12)
    assert isinstance(generation.decoder._cache, type(Decoder(static, ids)._cache))
    assert type(generation.decoder._cache).__name__ == "StaticKVCache"


def test_rewind_and_reset_to_keep_the_cached_prefix(static, plain):
    ids = smol_tokenizer().encode(PROMPT)
    follow = generate_static(plain.model, ids, 6)
    decoder = Decoder(static, ids)
    for token in follow:
        decoder.logits()
        decoder.advance(token)
    decoder.logits()
    before = decoder.forwarded_tokens  # the prompt, then one token per step
    assert before == len(ids) + len(follow)
    decoder.rewind(3)  # the static cache is cropped: one token recomputed, not the prefix
    assert_logits_of(static, plain, ids + follow[:3], decoder)
    assert decoder.forwarded_tokens == before + 1
    branch = ids + follow[:1] + [100, 200]  # a branch after the first reply token
    decoder.reset_to(branch)
    assert_logits_of(static, plain, branch, decoder)
    assert decoder.forwarded_tokens == before + 1 + 2


def test_two_decoders_share_the_cache_and_stay_right(static, plain):
    ids = smol_tokenizer().encode(PROMPT)
    first, second = Decoder(static, ids), Decoder(static, ids + [5, 6])
    first.logits()
    second.logits()  # takes the shared cache
    first.advance(7)
    assert_logits_of(static, plain, ids + [7], first)  # recomputes its prefix once
    assert first.forwarded_tokens == len(ids) + len(ids) + 1
    assert_logits_of(static, plain, ids + [5, 6], second)


def test_a_sequence_outgrowing_its_cache_moves_to_a_larger_one(static, plain):
    ids = (smol_tokenizer().encode(PROMPT) * 60)[: FIRST_SIZE + 10]
    decoder = Decoder(static, ids[: FIRST_SIZE - 4])
    decoder.logits()
    for token in ids[FIRST_SIZE - 4 :]:
        decoder.advance(token)
        decoder.logits()
    assert decoder._cache._size == 2 * FIRST_SIZE
    assert_logits_of(static, plain, ids, decoder)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_zoo_family_decodes_and_branches_with_the_static_cache(family):
    """Sliding-window layers (gemma2/3, mistral) roll past their window: going back there
    recomputes instead of cropping, and the logits stay the model's own."""
    base = zoo_loaded(family)
    loaded = dataclasses.replace(base, _provenance=None)
    assert enable_static_decoding(loaded, compile=False) is not None, loaded.compile_note
    ids = smol_tokenizer().encode(PROMPT)
    tokens, generation = greedy_ids(loaded, ids, 10)
    assert tokens == generate_static(base.model, ids, 10)
    decoder = generation.decoder
    decoder.rewind(7)
    assert_logits_of(loaded, base, ids + tokens[:3], decoder)
    branch = ids + tokens[:2] + [100, 200, 300]
    decoder.reset_to(branch)
    assert_logits_of(loaded, base, branch, decoder)


compile_enabled = pytest.mark.skipif(
    os.environ.get("WORKBENCH_TEST_COMPILE") != "1",
    reason="torch.compile takes about a minute cold here; make test sets WORKBENCH_TEST_COMPILE=1",
)


@pytest.mark.compile
@compile_enabled
def test_compiled_step(plain, tmp_path):
    """load_model(compile=True): compiles at load (reported as progress), then greedy output
    equals generate(cache_implementation="static") token for token; a new cache size compiles
    again, mid-reply, and that time is kept out of tokens per second."""
    from workbench.engine.loading import load_model
    from workbench.engine.settings import LoadSettings

    plain.model.save_pretrained(tmp_path)
    smol_tokenizer().save_pretrained(tmp_path)
    stages: list[str] = []
    started = time.perf_counter()
    loaded = load_model(
        LoadSettings(model=str(tmp_path), device="cpu", dtype="float32", compile=True),
        progress=lambda p: stages.append(p.stage),
    )
    print(f"\nload with compile: {time.perf_counter() - started:.1f} s")
    static = loaded.static
    assert static is not None and static.compiled, loaded.compile_note
    assert any(s.startswith("Compiling the decoding step") for s in stages)
    assert stages[stages.index("Ready") - 2].startswith("Compiled the decoding step in ")
    print(f"first compile: {static.first_compile_seconds:.1f} s")
    record = loaded.provenance()
    assert record["compile"] == "static cache + torch.compile (inductor, default)"
    assert record["compile_seconds"] == round(static.first_compile_seconds, 2)

    ids = smol_tokenizer().encode(PROMPT)
    tokens, generation = greedy_ids(loaded, ids, 12)
    assert tokens == generate_static(plain.model, ids, 12)
    assert generation.compiling == 0  # compiled at load: nothing more for this cache size
    assert static.recompiles == 0  # e.g. a warm-up input with other strides than a Decoder's

    long_prompt = (ids * 60)[: FIRST_SIZE - 4]  # crosses into the next cache size mid-reply
    first = static.compile_seconds
    tokens, generation = greedy_ids(loaded, long_prompt, 8)
    assert tokens == generate_static(plain.model, long_prompt, 8)
    print(f"second cache size compiled in {static.compile_seconds - first:.1f} s")
    assert generation.compiling == pytest.approx(static.compile_seconds - first) and generation.compiling > 0
    assert static.recompiles == 1  # the one new cache size
    assert generation.compute_seconds == pytest.approx(generation.elapsed - generation.compiling)
