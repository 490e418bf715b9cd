"""Loading from every kind of source, and the errors for sources that cannot load."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.models import smol_tokenizer, tiny_loaded
from workbench.engine.decoding import Decoder
from workbench.engine.errors import ModelLoadError, ModelSourceError
from workbench.engine.loading import gguf_cache_folder, load_model
from workbench.engine.settings import LoadSettings
from workbench.engine.sources import bundled_gguf_path


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny = tiny_loaded()
    tiny.model.save_pretrained(folder)
    smol_tokenizer().save_pretrained(folder)
    return folder


def logits_of(loaded, ids):
    return Decoder(loaded, ids).logits()


def assert_same_weights(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_local_folder_loads_the_same_weights(tiny_folder):
    loaded = load_model(LoadSettings(model=str(tiny_folder), device="cpu", dtype="float32"))
    assert loaded.source.kind == "folder"
    ids = [1, 42, 1123]
    assert torch.allclose(logits_of(loaded, ids), logits_of(tiny_loaded(), ids), atol=1e-5)
    assert loaded.eos_token_ids == frozenset({2})
    assert loaded.context_length == 512


def test_hub_id_loads_from_the_hf_cache_offline(tiny_folder, tmp_path, monkeypatch):
    """A populated HF cache (as a user with the network once had) works with the hub unreachable."""
    hub_cache = tmp_path / "hub"
    snapshot = hub_cache / "models--someone--tiny-llama" / "snapshots" / "0123456789abcdef"
    shutil.copytree(tiny_folder, snapshot)
    (hub_cache / "models--someone--tiny-llama" / "refs").mkdir()
    (hub_cache / "models--someone--tiny-llama" / "refs" / "main").write_text("0123456789abcdef")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    loaded = load_model(LoadSettings(model="someone/tiny-llama", device="cpu", dtype="float32"))
    assert loaded.source.kind == "hub"
    assert torch.allclose(logits_of(loaded, [1, 5]), logits_of(tiny_loaded(), [1, 5]), atol=1e-5)


def test_unknown_hub_id_offline_is_one_clear_error():
    with pytest.raises(ModelSourceError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        load_model(LoadSettings(model="nobody/no-such-model", device="cpu"))


def test_truncated_gguf_is_reported(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(bundled_gguf_path().read_bytes()[:3_000_000])
    with pytest.raises(ModelLoadError, match="truncated, corrupt"):
        load_model(LoadSettings(model=str(broken), device="cpu"))
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model at all")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        load_model(LoadSettings(model=str(fake), device="cpu"))


def test_folder_with_a_broken_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises((ModelLoadError, ModelSourceError)):
        load_model(LoadSettings(model=str(tmp_path), device="cpu"))


def test_gguf_is_cached_and_a_damaged_cache_is_rebuilt():
    first = load_model(LoadSettings(device="cpu", dtype="float32"))
    cache = gguf_cache_folder(bundled_gguf_path())
    assert (cache / "model.safetensors").is_file()
    second = load_model(LoadSettings(device="cpu", dtype="float32"))
    assert second.from_cache
    ids = [1, 504, 3575, 282]
    assert_same_weights(first, second)
    # same weights; the float sums may differ in the last bits with another memory layout
    assert torch.allclose(logits_of(first, ids), logits_of(second, ids), atol=1e-4)
    assert second.tokenizer.encode("Hello world") == first.tokenizer.encode("Hello world")
    assert second.tokenizer.chat_template == first.tokenizer.chat_template
    # damage the cache: the next load falls back to the GGUF and rewrites it
    # a new file, not an in-place write: other tests' models still map the old one
    (cache / "model.safetensors").unlink()
    (cache / "model.safetensors").write_bytes(b"garbage")
    third = load_model(LoadSettings(device="cpu", dtype="float32"))
    assert not third.from_cache
    assert_same_weights(third, first)
    assert load_model(LoadSettings(device="cpu", dtype="float32")).from_cache


def test_progress_is_reported():
    seen = []
    load_model(LoadSettings(device="cpu", dtype="float32"), progress=seen.append)
    assert seen[-1].stage == "Ready"
    assert all(p.fraction is None or 0 <= p.fraction <= 1 for p in seen)
