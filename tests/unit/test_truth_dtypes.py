"""Truth in the dtype users run: the bundled model in bfloat16 (the CPU default here), float16,
and float32 as the reference, through the engine's KV-cache path (Decoder/Generation), over at least
64 generated tokens.

- greedy decoding equals ``model.generate(do_sample=False)`` in the same dtype, token for token;
- ``p`` after cached steps equals a fresh full forward pass ``softmax(model(ids).logits[:, -1])``
  within ``P_TOLERANCE[dtype]`` (the largest absolute difference over the whole vocabulary,
  at every fourth step and the last);
- seeded sampling with a repetition penalty equals ``generate(do_sample=True)`` after
  ``torch.manual_seed`` with the same warpers.

Why bfloat16 and float16 need a looser ``p`` tolerance than float32: the cached path runs one
token at a time (matrix-vector products over cached keys and values), the fresh pass runs the
whole sequence at once (matrix-matrix products); the kernels add in different orders, and
every layer's output is rounded to the dtype. bfloat16 keeps 8 significant bits (relative
rounding 2^-9, about 0.2%), so a logit near 20 moves in steps of 0.125 and the two paths land
on neighbouring values; a token at p = 0.5 then moves by about 0.03. float16 keeps 11 bits (8x
finer) and float32 24. Measured on this model (72 steps, every step compared): bfloat16 up to
4.4e-2, float16 up to 5.0e-3, float32 up to 2.7e-6. The tolerances below leave 2-4x headroom;
the test compares every fourth step and the last (19 of 72) to stay quick.
Token-for-token equality with ``generate`` holds exactly: both take the same cached path.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from tests.models import bundled_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.prompts import chat_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings

pytestmark = pytest.mark.slow

NEW_TOKENS = 72  # at least 64, as the README promises
COMPARE_EVERY = 4  # steps between fresh forward passes (each one re-reads the whole sequence)
P_TOLERANCE = {
    "bfloat16": 8e-2,
    "float16": 1.5e-2,
    "float32": 1e-5,
}  # max |p_cached - p_fresh| over vocabulary and steps
PROMPT = "Write a long story about a robot who learns to paint."
SAMPLED = SamplingSettings(
    temperature=0.9,
    top_k=40,
    top_p=0.95,
    min_p=0.0,
    repetition_penalty=1.3,
    seed=1234,
    max_new_tokens=NEW_TOKENS,
)


def _cpu_runs(dtype: torch.dtype) -> bool:
    try:
        x = torch.ones(4, 8, dtype=dtype)
        return bool(torch.isfinite(x @ x.T).all())
    except RuntimeError:
        return False


DTYPES = [
    "bfloat16",
    pytest.param(
        "float16",
        marks=pytest.mark.skipif(
            not _cpu_runs(torch.float16), reason="this CPU's torch has no float16 matmul"
        ),
    ),
    "float32",  # the reference point for the tolerances above
]


@dataclass
class Run:
    loaded: object
    prompt: list[int]
    greedy: list[int]


@pytest.fixture(scope="module", params=DTYPES)
def run(request: pytest.FixtureRequest) -> Run:
    """The bundled model in one dtype, loaded once, and the engine's greedy reply."""
    loaded = bundled_loaded(request.param)
    assert loaded.dtype_name == request.param
    prompt = chat_prompt(loaded.tokenizer, [{"role": "user", "content": PROMPT}]).ids
    greedy = SamplingSettings(do_sample=False, max_new_tokens=NEW_TOKENS)
    generation = Generation(Decoder(loaded, prompt), Sampler(greedy))
    ids = [step.token_id for step in generation]
    assert len(ids) >= 64, f"the reply ended after {len(ids)} tokens ({generation.finish_reason})"
    return Run(loaded, list(prompt), ids)


def test_greedy_equals_generate_token_for_token(run: Run) -> None:
    with torch.no_grad():
        out = run.loaded.model.generate(
            torch.tensor([run.prompt]), do_sample=False, max_new_tokens=NEW_TOKENS
        )
    assert run.greedy == out[0, len(run.prompt) :].tolist()


def test_p_after_cached_steps_equals_a_fresh_forward_pass(run: Run) -> None:
    decoder = Decoder(run.loaded, run.prompt)
    worst, compared = 0.0, 0
    for step, token in enumerate(run.greedy):
        dist = decoder.distribution(Sampler(), 5)  # from the KV cache: one new token per pass
        if step % COMPARE_EVERY == 0 or step == len(run.greedy) - 1:
            with torch.no_grad():
                logits = run.loaded.model(torch.tensor([decoder.ids])).logits[:, -1]
            fresh = torch.softmax(logits.float(), -1)[0]
            worst = max(worst, (dist.p - fresh).abs().max().item())
            compared += 1
        decoder.advance(token)
    assert decoder.forward_passes == len(run.greedy)  # the prompt once, then one token at a time
    assert compared >= 18
    tolerance = P_TOLERANCE[run.loaded.dtype_name]
    assert worst <= tolerance, f"{run.loaded.dtype_name}: max |p_cached - p_fresh| = {worst:.3e}"


def test_seeded_sampling_with_repetition_penalty_equals_generate(run: Run) -> None:
    ours = [step.token_id for step in Generation(Decoder(run.loaded, run.prompt), Sampler(SAMPLED))]
    assert len(ours) >= 64
    torch.manual_seed(SAMPLED.seed)
    with torch.no_grad():
        out = run.loaded.model.generate(
            torch.tensor([run.prompt]),
            do_sample=True,
            temperature=SAMPLED.temperature,
            top_k=SAMPLED.top_k,
            top_p=SAMPLED.top_p,
            min_p=None,
            repetition_penalty=SAMPLED.repetition_penalty,
            max_new_tokens=NEW_TOKENS,
        )
    assert ours == out[0, len(run.prompt) :].tolist()
    assert ours != run.greedy
