"""``auto`` resolves to one dtype per machine, and every output records what really ran."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.models import tiny_loaded
from workbench.engine import devices, provenance
from workbench.engine.devices import DevicePlan, DtypeChoice, choose_dtype, cpu_dtype, cpu_flags
from workbench.engine.loading import load_model
from workbench.engine.settings import LoadSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama saved as a model folder (loads in well under a second)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny = tiny_loaded()
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


# --- the decision rule ----------------------------------------------------------------------


def test_cpu_flags_decide_without_timing(monkeypatch):
    def no_timing(*_: object) -> float:
        raise AssertionError("a CPU whose flags are known must not be timed")

    monkeypatch.setattr(devices, "bfloat16_speedup", no_timing)
    amx = cpu_dtype(frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
    assert amx.dtype is torch.bfloat16
    assert amx.reason == "bfloat16: AVX512-BF16 and AMX-BF16 on this CPU"
    arm = cpu_dtype(frozenset({"fp", "asimd", "bf16"}))
    assert arm.dtype is torch.bfloat16 and "Arm BF16" in arm.reason
    plain = cpu_dtype(frozenset({"avx2", "avx512f", "fma"}))
    assert plain.dtype is torch.float32 and plain.reason.startswith(
        "float32: this CPU has no native bfloat16"
    )


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16\n\n")
    assert cpu_flags(str(x86)) == frozenset({"fpu", "avx2", "amx_bf16"})
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(str(arm)) == frozenset({"fp", "asimd", "bf16"})
    assert cpu_flags(str(tmp_path / "missing")) is None
    empty = tmp_path / "empty"
    empty.write_text("processor\t: 0\n")
    assert cpu_flags(str(empty)) is None


def test_unknown_cpu_is_measured_once_and_the_decision_kept(monkeypatch, tmp_path):
    """Where flags cannot be read, one measurement decides; a later, busier launch keeps it."""
    speedups = iter([1.9, 0.7])  # the second would flip the choice if it were ever taken
    calls = []

    def measure(*_: object) -> float:
        calls.append(1)
        return next(speedups)

    monkeypatch.setattr(devices, "bfloat16_speedup", measure)
    monkeypatch.setattr(devices, "cpu_flags", lambda *_: None)
    monkeypatch.setattr(devices.paths, "cache_dir", lambda: tmp_path / "cache")  # not the shared one
    first = choose_dtype("auto", DevicePlan("cpu"))
    assert first.dtype is torch.bfloat16
    assert first.reason.startswith("bfloat16: measured once ") and first.reason.endswith("bf16 1.9x float32")
    for _ in range(3):
        assert choose_dtype("auto", DevicePlan("cpu")) == first
    assert len(calls) == 1
    kept = json.loads((tmp_path / "cache" / devices.DECISION_FILE).read_text())
    assert kept[devices.machine_key()]["dtype"] == "bfloat16"
    # another torch version (or machine) is a new key: measured again
    monkeypatch.setattr(devices, "machine_key", lambda: "other-machine|torch 9")
    assert choose_dtype("auto", DevicePlan("cpu")).dtype is torch.float32
    assert len(calls) == 2


def test_auto_on_this_cpu_is_stable_and_explained():
    choices = {choose_dtype("auto", DevicePlan("cpu")) for _ in range(5)}
    assert len(choices) == 1
    (choice,) = choices
    assert choice.dtype in (torch.float32, torch.bfloat16)
    assert choice.reason.startswith(choice.name + ": ")
    assert choose_dtype("float16", DevicePlan("cpu")) == DtypeChoice(
        torch.float16, "float16: as requested (dtype setting)"
    )


# --- file hashes ----------------------------------------------------------------------------


def test_a_file_is_hashed_once_and_again_only_when_it_changes(monkeypatch, tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 100)
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert provenance.file_sha256(weights) == expected

    def no_hashing(*_: object) -> None:
        raise AssertionError("hashed again")

    monkeypatch.setattr(provenance.hashlib, "sha256", no_hashing)
    assert provenance.file_sha256(weights) == expected  # from <cache>/file-hashes.json
    monkeypatch.undo()
    weights.write_bytes(b"GGUF changed")
    assert provenance.file_sha256(weights) == hashlib.sha256(b"GGUF changed").hexdigest()


# --- the record -----------------------------------------------------------------------------


def test_loaded_model_provenance_names_what_ran(tiny_folder):
    loaded = load_model(LoadSettings(model=str(tiny_folder), device="auto", dtype="auto"))
    record = loaded.provenance()
    digest = hashlib.sha256((tiny_folder / "model.safetensors").read_bytes()).hexdigest()
    assert record["source"] == "folder"
    assert record["location"] == str(tiny_folder.resolve())
    assert record["sha256"] == {"model.safetensors": digest}
    assert record["device"] == "cpu"
    assert record["dtype"] == loaded.dtype_name in ("float32", "bfloat16")
    assert record["dtype_reason"] == loaded.dtype_reason
    assert loaded.dtype_reason.startswith(loaded.dtype_name + ": ")
    assert "auto" not in json.dumps(record) and "default" not in json.dumps(record)
    assert record["torch"] == torch.__version__


def test_wrapped_model_has_a_reason_too():
    tiny = tiny_loaded()
    assert tiny.dtype_reason == "float32: as built by the caller"


# --- ten launches ---------------------------------------------------------------------------


def _probe(folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "probe", "x", "--json", "--model", str(folder), "--top-k", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_ten_launches_half_next_to_a_busy_loop_report_one_dtype(tiny_folder):
    reports = []
    for launch in range(10):
        busy = None
        if launch % 2:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            reports.append(_probe(tiny_folder))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    dtypes = {r["dtype"] for r in reports}
    reasons = {r["provenance"]["dtype_reason"] for r in reports}
    assert len(dtypes) == 1 and len(reasons) == 1, (dtypes, reasons)
    assert dtypes <= {"float32", "bfloat16"}
    for report in reports:
        assert report["provenance"]["dtype"] == report["dtype"]
        assert report["provenance"]["source"] == "folder"
        assert "model.safetensors" in report["provenance"]["sha256"]
        assert report["entropy_bits"] == pytest.approx(report["entropy_nats"] / 0.6931471805599453)


def test_generate_json_records_what_ran_and_labels_entropy(tiny_folder, capsys):
    from workbench.cli import main

    code = main(
        ["generate", "Once", "--model", str(tiny_folder), "--json", "--greedy", "--max-new-tokens", "3"]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["provenance"]["source"] == "folder" and data["provenance"]["dtype"] == data["dtype"]
    assert data["dtype"] in ("float32", "bfloat16") and data["device"] == "cpu"
    token = data["tokens"][0]
    assert token["entropy_bits"] == pytest.approx(token["entropy_nats"] / 0.6931471805599453)
