"""Issue 12 item 5: --max-memory, --quantize and --compile where they enter (settings, plans,
the command line), a real device_map load on this CPU, and what sessions record."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from transformers import BitsAndBytesConfig

from tests.models import smol_tokenizer, tiny_loaded
from workbench.config import Config, load_config, save_config
from workbench.engine.decoding import Decoder
from workbench.engine.devices import DevicePlan, plan_device
from workbench.engine.errors import ModelLoadError, SettingsError
from workbench.engine.loading import LoadedModel, load_model
from workbench.engine.quantize import check_quantize, quantization_label
from workbench.engine.settings import LoadSettings, parse_max_memory
from workbench.sessions.portable import provenance_line

GIB = 2**30


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-scaleup")
    tiny_loaded().model.save_pretrained(folder)
    smol_tokenizer().save_pretrained(folder)
    return folder


# --- --max-memory -------------------------------------------------------------------------


def test_max_memory_parses_to_accelerate_keys():
    assert parse_max_memory("0=20GiB, 1=20GiB,cpu=64GiB") == {0: 20 * GIB, 1: 20 * GIB, "cpu": 64 * GIB}
    assert parse_max_memory("cuda:1=1.5GB,mps=512MiB,cpu=1000") == {
        1: 1_500_000_000,
        "mps": 512 * 2**20,
        "cpu": 1000,
    }


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0=20XB", "is not a size"),
        ("gpu0=1GiB", "is not a GPU index"),
        ("cpu", "is not DEVICE=SIZE"),
        ("cpu=1GiB,cpu=2GiB", "given twice"),
        ("0=0GiB", "more than 0"),
        (" , ", "is empty"),
    ],
)
def test_max_memory_errors_say_how_to_write_it(text, words):
    with pytest.raises(ValueError, match=words) as caught:
        LoadSettings(max_memory=text)
    assert isinstance(caught.value, SettingsError)
    assert "e.g. 0=20GiB,1=20GiB,cpu=64GiB" in str(caught.value)


def test_max_memory_needs_device_auto():
    with pytest.raises(SettingsError, match="use --device auto"):
        LoadSettings(device="cpu", max_memory="cpu=1GiB")


def test_device_auto_plans():
    # without caps, one device stays as it was; several GPUs go through device_map="auto"
    assert plan_device("auto", cuda_count=0, mps_available=False) == DevicePlan("cpu")
    assert plan_device("auto", cuda_count=1, mps_available=False) == DevicePlan("cuda:0")
    assert plan_device("auto", cuda_count=2, mps_available=False).device_map == "auto"
    capped = plan_device("auto", 2, False, max_memory={0: GIB, 1: GIB, "cpu": 8 * GIB})
    assert capped.device_map == "auto" and capped.max_memory == {0: GIB, 1: GIB, "cpu": 8 * GIB}
    assert capped.gpus == 2 and capped.uses_cuda
    on_cpu = plan_device("auto", 0, False, max_memory={"cpu": GIB})
    assert on_cpu.device_map == "auto" and not on_cpu.uses_cuda


def test_max_memory_naming_a_missing_gpu_is_refused():
    with pytest.raises(SettingsError, match=r"names GPU 1, but this machine has GPUs 0..0"):
        plan_device("auto", cuda_count=1, mps_available=False, max_memory={0: GIB, 1: GIB})
    with pytest.raises(SettingsError, match="no CUDA GPU"):
        plan_device("auto", cuda_count=0, mps_available=False, max_memory={0: GIB})


def test_max_memory_reaches_from_pretrained_on_this_cpu(tiny_folder):
    """device_map="auto" within max_memory={"cpu": ...}: loads, and decodes as a plain load does."""
    capped = load_model(LoadSettings(model=str(tiny_folder), dtype="float32", max_memory="cpu=2GiB"))
    plain = load_model(LoadSettings(model=str(tiny_folder), dtype="float32", device="cpu"))
    assert capped.plan.device_map == "auto" and capped.plan.placed == ("cpu",)
    assert capped.plan.label == "cpu (device_map)" and capped.input_device == torch.device("cpu")
    assert capped.provenance()["max_memory"] == "cpu=2GiB"
    ids = smol_tokenizer().encode("The capital of France is")
    assert torch.equal(Decoder(capped, ids).logits(), Decoder(plain, ids).logits())


def test_a_model_larger_than_max_memory_is_refused_not_put_on_disk(tiny_folder):
    # The caps reach accelerate: 10 KB holds none of the tiny model, which would go to "disk".
    with pytest.raises(ModelLoadError, match=r"does not fit in --max-memory cpu=10KB.*raise the sizes"):
        load_model(LoadSettings(model=str(tiny_folder), dtype="float32", max_memory="cpu=10KB"))


# --- --quantize ---------------------------------------------------------------------------


def test_quantize_values():
    assert LoadSettings(quantize="4bit").quantize == "4bit"
    assert LoadSettings(quantize="NF4").quantize == "4bit" and LoadSettings(quantize=None).quantize == "none"
    with pytest.raises(SettingsError, match="quantize must be one of none, 8bit, 4bit"):
        LoadSettings(quantize="3bit")


def test_quantize_needs_cuda_and_bitsandbytes():
    with pytest.raises(
        SettingsError, match=r"needs a CUDA GPU .* would run on the CPU; leave --quantize out"
    ):
        check_quantize("4bit", DevicePlan("cpu"))
    with pytest.raises(SettingsError, match="would run on Apple's MPS"):
        check_quantize("8bit", DevicePlan("mps"))
    with pytest.raises(
        SettingsError, match=r"needs the bitsandbytes package: pip install 'workbench\[gpu\]'"
    ):
        check_quantize("4bit", DevicePlan("cuda:0"), installed=False)
    check_quantize("none", DevicePlan("cpu"))  # nothing asked, nothing refused


def test_quantize_on_this_cpu_is_refused_before_reading_weights(tiny_folder):
    with pytest.raises(SettingsError, match="needs a CUDA GPU"):
        load_model(LoadSettings(model=str(tiny_folder), quantize="4bit"))


def test_quantization_label_reads_the_models_config():
    class Config:
        quantization_config = None

    config = Config()
    assert quantization_label(config) == ""
    config.quantization_config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    assert quantization_label(config) == "4-bit bnb"
    config.quantization_config = BitsAndBytesConfig(load_in_8bit=True).to_dict()  # as a saved config has it
    assert quantization_label(config) == "8-bit bnb"
    config.quantization_config = {"quant_method": "gguf"}  # de-quantised when loaded
    assert quantization_label(config) == ""


# --- the command line ---------------------------------------------------------------------


def _workbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["generate", "hi", "--quantize", "4bit", "--device", "cpu"], "--quantize 4bit needs a CUDA GPU"),
        (["probe", "hi", "--max-memory", "0=20XB"], "'20XB' for 0 is not a size"),
        (["generate", "hi", "--device", "cpu", "--max-memory", "cpu=1GiB"], "use --device auto"),
    ],
)
def test_flag_errors_are_one_clear_line(args, words):
    result = _workbench(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("workbench: error: ") and words in lines[0], result.stderr


# --- what is recorded ---------------------------------------------------------------------


def test_settings_round_trip_through_the_config_file(tmp_path):
    load = LoadSettings(max_memory="cpu=8GiB", quantize="8bit", compile=True)
    save_config(Config(model=load), tmp_path / "config.toml")
    config, problems = load_config(tmp_path / "config.toml")
    assert problems == [] and config.model == load
    assert LoadSettings.from_dict(load.to_dict()) == load  # as a session's load settings


def test_provenance_says_what_decoding_ran_with(tiny_folder):
    from workbench.engine.compiled import enable_static_decoding

    plain = load_model(LoadSettings(model=str(tiny_folder), device="cpu"))
    record = plain.provenance()
    assert record["quantization"] == "none" and record["compile"] == "off" and "max_memory" not in record
    static = LoadedModel.wrap(plain.model, plain.tokenizer)
    enable_static_decoding(static, compile=False)
    assert static.provenance()["compile"] == "static cache (not compiled)"
    assert static.precision_label == f"{static.dtype_name} · static cache"
    line = provenance_line({**record, "quantization": "4-bit bnb", "compile": "static cache + torch.compile"})
    assert line.endswith(", 4-bit bnb weights, static cache + torch.compile")


def test_a_session_records_the_load_settings_and_provenance(tiny_folder, tmp_path):
    from workbench.sessions.store import SessionStore

    load = LoadSettings(model=str(tiny_folder), device="auto", max_memory="cpu=2GiB", compile=False)
    loaded = load_model(load)
    with SessionStore(tmp_path / "s.db") as store:
        sid = store.create_session(load.model, load=load, provenance=loaded.provenance())
        session = store.get_session(sid)
    assert session.load_settings() == load
    assert session.provenance["max_memory"] == "cpu=2GiB" and session.provenance["quantization"] == "none"
    assert session.provenance["compile"] == "off"


def test_max_memory_on_the_command_line_means_device_auto():
    import argparse

    from workbench.config import load_settings

    config = Config(model=LoadSettings(device="cpu"))  # a device kept in config.toml
    args = argparse.Namespace(max_memory="cpu=2GiB", device=None)
    assert load_settings(args, config).device == "auto"
    with pytest.raises(SettingsError, match="use --device auto"):  # both given: refused, not guessed
        load_settings(argparse.Namespace(max_memory="cpu=2GiB", device="cpu"), config)
