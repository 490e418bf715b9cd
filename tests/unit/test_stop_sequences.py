"""Stop sequences: typed forms, the engine's cut, the config file and ``workbench generate --stop``."""

from __future__ import annotations

import json

import pytest

from tests.models import save_tiny_folder, tiny_loaded
from workbench.cli import main
from workbench.config import Config, load_config, save_config
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.errors import SettingsError
from workbench.engine.sampling import Sampler
from workbench.engine.settings import SamplingSettings, format_stop_field, parse_stop_field, unescape_stop

PROMPT = "Hello there"


def greedy_run(**settings: object) -> Generation:
    loaded = tiny_loaded()
    ids = loaded.tokenizer(PROMPT).input_ids
    sampling = SamplingSettings(do_sample=False, max_new_tokens=20, **settings)  # type: ignore[arg-type]
    generation = Generation(Decoder(loaded, ids), Sampler(sampling))
    list(generation)
    return generation


def spanning_stop(generation: Generation) -> tuple[str, int, int]:
    """A stop string that starts inside one token and ends inside the next, where it first
    occurs in the text, and the number of tokens up to the one that completes it."""
    texts = [s.text for s in generation.steps]
    for i in range(2, len(texts) - 1):
        if len(texts[i]) >= 3 and len(texts[i + 1]) >= 3:
            stop = texts[i][-2:] + texts[i + 1][:2]
            start = len("".join(texts[:i])) + len(texts[i]) - 2
            if generation.text.find(stop) == start:
                return stop, start, i + 2
    raise AssertionError(f"no two neighbouring tokens with 3+ characters in {texts}")


@pytest.mark.parametrize(
    ("typed", "stops"),
    [
        ("\\n\\n | User: | \\sBob", ("\n\n", "User:", " Bob")),
        ("a|b", ("a", "b")),
        ("a\\|b", ("a|b",)),
        ("x\\\\y", ("x\\y",)),
        ("  ", ()),
        ("end\\s | \\t", ("end ", "\t")),
        ("same | same", ("same",)),
    ],
)
def test_typed_stop_strings_parse_and_format_back(typed, stops):
    assert parse_stop_field(typed) == stops
    assert parse_stop_field(format_stop_field(stops)) == stops


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("a\\q", "\\q is not an escape"),
        ("a\\", "lone backslash"),
        (" | ".join(str(i) for i in range(17)), "at most 16"),
    ],
)
def test_bad_typed_stop_strings_say_how_to_fix_them(value, words):
    with pytest.raises(SettingsError, match=words.replace("\\", "\\\\")):
        parse_stop_field(value)


def test_stop_setting_is_validated_and_kept_as_a_list_in_dicts():
    assert SamplingSettings(stop="User:").stop == ("User:",)  # one string: a list of one
    assert SamplingSettings(stop=["a", "b"]).to_dict()["stop"] == ["a", "b"]
    assert SamplingSettings.from_dict({"stop": ["a"]}) == SamplingSettings(stop=("a",))
    with pytest.raises(SettingsError, match="must not be empty"):
        SamplingSettings(stop=["a", ""])
    with pytest.raises(SettingsError, match="list of strings"):
        SamplingSettings(stop=[1])
    assert unescape_stop("\\n\\sx") == "\n x"


def test_config_file_keeps_stop_strings(tmp_path):
    path = tmp_path / "config.toml"
    config = Config(sampling=SamplingSettings(stop=("\n\nUser:", 'say "hi" \\', "\x01")))
    save_config(config, path)
    loaded, problems = load_config(path)
    assert problems == [] and loaded.sampling.stop == config.sampling.stop


def test_generation_stops_at_a_stop_string_across_tokens_and_cuts_it():
    free = greedy_run()
    stop, start, tokens = spanning_stop(free)
    stopped = greedy_run(stop=("never in this text at all", stop))
    assert stopped.finish_reason == "stop_sequence" and stopped.stop_string == stop
    assert stopped.text == free.text[:start]  # cut where the stop string begins
    # the token that completed it is kept: the same tokens as the free run, up to that one
    assert [s.token_id for s in stopped.steps] == [s.token_id for s in free.steps[:tokens]]
    assert stopped.first_token_seconds is not None and 0 < stopped.first_token_seconds <= stopped.elapsed


def test_the_earliest_stop_string_wins_and_settings_handed_over_mid_reply_apply():
    free = greedy_run()
    stop, start, _ = spanning_stop(free)
    later = free.text[start + len(stop) + 2 :][:3]
    assert greedy_run(stop=(later, stop)).stop_string == stop
    # a stop string handed over while the reply runs (from the Settings pane) applies from then on
    loaded = tiny_loaded()
    sampling = SamplingSettings(do_sample=False, max_new_tokens=20)
    generation = Generation(Decoder(loaded, loaded.tokenizer(PROMPT).input_ids), Sampler(sampling))
    for step in generation:
        if step.index == 0:
            generation.update_sampling(sampling.updated(stop=(stop,)))
    assert generation.finish_reason == "stop_sequence" and generation.text == free.text[:start]


def test_cli_generate_stop(tmp_path, capsys):
    folder = save_tiny_folder(tmp_path / "tiny")
    base = ["generate", PROMPT, "--model", str(folder), "--dtype", "float32", "--greedy"]
    base += ["--max-new-tokens", "20"]
    assert main([*base, "--json"]) == 0
    free = json.loads(capsys.readouterr().out)
    texts = [t["text"] for t in free["tokens"]]
    # a stop string across two tokens, as in the engine test
    i = next(i for i in range(2, len(texts) - 1) if len(texts[i]) >= 3 and len(texts[i + 1]) >= 3)
    stop = texts[i][-2:] + texts[i + 1][:2]
    start = free["text"].find(stop)
    assert main([*base, "--json", "--stop", "nowhere\\n", "--stop", stop]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["finish_reason"] == "stop_sequence" and record["stop_string"] == stop
    assert record["text"] == free["text"][:start] and record["first_token_seconds"] > 0
    # streamed as text: the stop string never reaches the screen, and the end says why
    assert main([*base, "--stop", stop]) == 0
    out, err = capsys.readouterr()
    assert out == PROMPT + free["text"][:start] + "\n"
    assert f'ended: stop_sequence at "{stop}"' in err
