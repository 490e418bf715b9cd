from __future__ import annotations

import pytest

from workbench.config import Config, UiSettings, load_config, save_config
from workbench.engine.errors import SettingsError
from workbench.engine.settings import LoadSettings, SamplingSettings, validate_top_k_shown


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("temperature", -1, "temperature must be 0 (greedy) or a positive"),
        ("temperature", "hot", "temperature must be a number"),
        ("temperature", float("nan"), "finite"),
        ("top_p", 2, "top_p must be greater than 0 and at most 1"),
        ("top_p", 0, "top_p must be greater than 0"),
        ("top_k", -5, "top_k must be 0 (off) or a positive whole number"),
        ("top_k", 2.5, "top_k must be a whole number"),
        ("min_p", 1.5, "min_p must be between 0"),
        ("repetition_penalty", 0, "repetition_penalty must be a positive number"),
        ("max_new_tokens", 0, "max_new_tokens must be at least 1"),
        ("seed", -3, "seed must be a non-negative"),
        ("do_sample", "maybe", "do_sample must be true or false"),
    ],
)
def test_bad_sampling_values_say_how_to_fix_them(field, value, words):
    with pytest.raises(SettingsError) as info:
        SamplingSettings(**{field: value})
    assert words in str(info.value)


def test_values_are_normalised():
    settings = SamplingSettings(temperature="0.7", top_k="40", max_new_tokens=64.0, do_sample="yes", seed="7")
    assert settings.temperature == 0.7 and settings.top_k == 40 and settings.max_new_tokens == 64
    assert settings.do_sample is True and settings.seed == 7
    assert SamplingSettings(temperature=0).greedy
    assert SamplingSettings.from_dict({"temperature": 0.5, "unknown": 1}).temperature == 0.5
    with pytest.raises(SettingsError, match="unknown sampling setting"):
        settings.updated(tempreature=1)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"device": "gpu"}, "device must be"),
        ({"dtype": "float8"}, "dtype must be one of"),
        ({"model": " "}, "model must"),
    ],
)
def test_bad_load_settings(kwargs, words):
    with pytest.raises(SettingsError, match=words):
        LoadSettings(**kwargs)


def test_top_k_shown_bounds():
    assert validate_top_k_shown("50") == 50
    for bad in (0, 51, "x"):
        with pytest.raises(SettingsError):
            validate_top_k_shown(bad)


def test_config_round_trip_and_broken_files(tmp_path):
    path = tmp_path / "config.toml"
    config = Config(
        LoadSettings(model="x/y", device="cpu"),
        SamplingSettings(temperature=0.3, seed=5),
        UiSettings(theme="workbench-light", top_k_shown=20, system_prompt='Be "brief"\nplease'),
    )
    save_config(config, path)
    loaded, problems = load_config(path)
    assert problems == [] and loaded == config

    path.write_text("this is = not [toml")
    loaded, problems = load_config(path)
    assert loaded == Config() and "could not read" in problems[0]

    path.write_text("[sampling]\ntemperature = -2\n[ui]\ntop_k_shown = 5\n")
    loaded, problems = load_config(path)
    assert loaded.sampling == SamplingSettings() and loaded.ui.top_k_shown == 5
    assert "temperature" in problems[0]
