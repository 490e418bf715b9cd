"""A seed must fit torch.Generator.manual_seed: refused where it enters, never at the first token."""

from __future__ import annotations

import pytest
import torch

from tests.models import tiny_loaded
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.errors import SettingsError
from workbench.engine.sampling import Sampler
from workbench.engine.settings import MAX_SEED, SamplingSettings


def test_max_seed_is_torchs_real_limit():
    # measured, not assumed: the largest seed torch takes, and the first one it refuses
    assert torch.Generator().manual_seed(MAX_SEED).initial_seed() == MAX_SEED
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        torch.Generator().manual_seed(MAX_SEED + 1)


@pytest.mark.parametrize("seed", [2**64, "18446744073709551616", 10**30, -1, "-1"])
def test_a_seed_outside_0_to_2_64_is_refused_with_the_range(seed):
    with pytest.raises(SettingsError) as info:
        SamplingSettings(seed=seed)
    message = str(info.value)
    assert "seed must be" in message and "0" in message and str(MAX_SEED) in message


@pytest.mark.parametrize("seed", [0, MAX_SEED, str(MAX_SEED)])
def test_every_seed_in_range_is_accepted_and_samples(seed):
    settings = SamplingSettings(seed=seed, max_new_tokens=2)
    assert settings.seed == int(seed)
    tiny = tiny_loaded()
    steps = list(Generation(Decoder(tiny, tiny.tokenizer("Once").input_ids), Sampler(settings)))
    assert len(steps) == 2


def test_the_cli_refuses_a_seed_of_2_64_in_one_line_before_loading():
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "workbench", "generate", "x", "--seed", "18446744073709551616"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("workbench: error: seed must be"), result.stderr
    assert str(MAX_SEED) in lines[0]
