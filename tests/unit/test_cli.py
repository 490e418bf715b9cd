"""The command line, run as a user runs it: in a subprocess, reading its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.models import bundled_loaded
from workbench.engine.sources import bundled_gguf_path


def workbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def test_help_does_not_import_torch_or_textual():
    code = (
        "import sys, workbench.cli as c\n"
        "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'textual') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "probe" in result.stdout and "generate" in result.stdout


def test_engine_never_imports_textual():
    code = (
        "import sys\n"
        "import workbench.engine.decoding, workbench.engine.loading, workbench.engine.tokens\n"
        "assert 'textual' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["probe", "hi", "--model", "nosuch/model-xyz"], "not in the Hugging Face cache"),
        (["probe", "hi", "--model", "{empty}"], "holds no model"),
        (["probe", "hi", "--model", "{truncated}"], "truncated, corrupt"),
        (["probe", "hi", "--temperature", "-1"], "temperature must be"),
        (["probe", "hi", "--top-p", "2"], "top_p must be"),
        (["generate", "hi", "--top-k", "-5"], "top_k must be"),
        (["generate", "hi", "--max-new-tokens", "0"], "max_new_tokens must be at least 1"),
        (["probe", ""], "the prompt is empty"),
        (["generate", "   "], "the prompt is empty"),
        (["probe", "hi", "--top-k", "99"], "between 1 and 50"),
        (["probe", "hi", "--device", "cuda:3"], "device"),
    ],
)
def test_bad_input_gives_one_clear_line_and_a_nonzero_exit(tmp_path, args, words):
    empty = tmp_path / "empty"
    empty.mkdir()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(bundled_gguf_path().read_bytes()[:3_000_000])
    args = [a.format(empty=empty, truncated=truncated) for a in args]
    result = workbench(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("workbench: error: ") and words in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "auto"])
def test_probe_json_equals_direct_softmax(dtype):
    result = workbench("probe", "1+1=", "--top-k", "10", "--json", "--dtype", dtype, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    loaded = bundled_loaded(data["dtype"])
    ids = loaded.tokenizer("1+1=").input_ids
    assert data["prompt_ids"] == ids
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids])).logits[:, -1]
    probs = torch.softmax(logits.float(), -1)[0]
    top = torch.topk(probs, 10)
    assert [c["id"] for c in data["candidates"]] == top.indices.tolist()
    for cand, expected in zip(data["candidates"], top.values.tolist(), strict=True):
        assert abs(cand["p"] - expected) < 1e-5
    assert data["candidates"][0]["token"] == loaded.tokenizer.decode([data["candidates"][0]["id"]])


@pytest.mark.slow
def test_generate_greedy_matches_model_generate():
    result = workbench(
        "generate", "Once upon a time", "--greedy", "--max-new-tokens", "30", "--json", "--dtype", "float32"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    loaded = bundled_loaded("float32")
    with torch.no_grad():
        out = loaded.model.generate(torch.tensor([data["prompt_ids"]]), do_sample=False, max_new_tokens=30)
    assert [t["id"] for t in data["tokens"]] == out[0, len(data["prompt_ids"]) :].tolist()
    assert data["text"] == loaded.tokenizer.decode(
        out[0, len(data["prompt_ids"]) :], skip_special_tokens=True
    )


@pytest.mark.slow
def test_generate_chat_answers_paris_and_seeds_repeat():
    result = workbench(
        "generate", "--chat", "What is the capital of France?", "--greedy", "--max-new-tokens", "40"
    )
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    runs = [
        workbench(
            "generate",
            "Tell me a story.",
            "--chat",
            "--seed",
            "7",
            "--temperature",
            "0.9",
            "--max-new-tokens",
            "25",
            "--json",
        )
        for _ in range(2)
    ]
    texts = [json.loads(r.stdout)["text"] for r in runs]
    assert texts[0] == texts[1] and texts[0]


@pytest.mark.slow
def test_generate_show_probs_prints_each_token():
    result = workbench("generate", "1+1=", "--greedy", "--max-new-tokens", "3", "--show-probs")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "p=" in line]
    assert len(lines) == 3 and all("q=1.0000" in line for line in lines)


def test_tokenize_and_vocab(tmp_path):
    morning = json.loads(workbench("tokenize", "good morning", "--json").stdout)["tokens"]
    am_good = json.loads(workbench("tokenize", "i am good", "--json").stdout)["tokens"]
    assert morning[0]["label"] == "good" and am_good[-1]["label"] == "␣good"
    assert morning[0]["id"] != am_good[-1]["id"]
    found = json.loads(workbench("vocab", "--search", " good", "--json").stdout)["tokens"]
    assert am_good[-1]["id"] in [t["id"] for t in found]
    out = tmp_path / "vocab.tsv"
    result = workbench("vocab", "--out", str(out))
    assert result.returncode == 0 and "49152 tokens" in result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 49153 and lines[0] == "id\ttoken\tkind"
