"""``workbench diff`` as a user runs it: --json KL equals a direct torch computation; refusals."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from tests.models import save_tiny_folder, smol_tokenizer, tiny_loaded
from workbench.cli import main

TEXT = "The capital of France is Paris."


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-diff")
    a = save_tiny_folder(base / "tiny-a")
    b = base / "tiny-b"
    tiny_loaded(1).model.save_pretrained(b)
    smol_tokenizer().save_pretrained(b)
    return a, b


def test_json_kl_equals_direct_kl_div(folders, capsys):
    a, b = folders
    args = ["diff", TEXT, "--model", str(a), "--against", str(b), "--device", "cpu", "--dtype", "float32"]
    assert main([*args, "--json", "-k", "3"]) == 0
    record = json.loads(capsys.readouterr().out)
    ids = smol_tokenizer().encode(TEXT)
    with torch.no_grad():
        log_a = torch.log_softmax(tiny_loaded(0).model(torch.tensor([ids])).logits[0, :-1], -1)
        log_b = torch.log_softmax(tiny_loaded(1).model(torch.tensor([ids])).logits[0, :-1], -1)
    expected = torch.nn.functional.kl_div(log_b, log_a, log_target=True, reduction="none").sum(-1)
    assert [t["kl"] for t in record["tokens"]] == pytest.approx(expected.tolist(), rel=1e-4)
    assert record["mean_kl"] == pytest.approx(expected.mean().item(), rel=1e-4)
    assert [t["id"] for t in record["tokens"]] == ids[1:] and record["ids"] == ids
    assert [t["token"] for t in record["tokens"]][:2] == ["\u2423capital", "\u2423of"]
    assert all(len(t["top_a"]) == 3 == len(t["top_b"]) for t in record["tokens"])
    assert record["model_a"]["location"] == str(a) and record["model_b"]["location"] == str(b)
    assert record["model_a"]["dtype"] == "float32" == record["model_b"]["dtype"]

    # The same model in bfloat16 (--dtype-b, B defaults to A): small, not zero; human output.
    assert (
        main(
            [
                "diff",
                TEXT,
                "--model",
                str(a),
                "--device",
                "cpu",
                "--dtype",
                "float32",
                "--dtype-b",
                "bfloat16",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "B: tiny-a, bfloat16" in out and "Where they disagree most" in out and "mean KL(A‖B)" in out


def test_another_vocabulary_and_bad_arguments_are_refused(folders, tmp_path, capsys):
    a, _ = folders
    other = save_tiny_folder(tmp_path / "other")
    tok = copy.deepcopy(smol_tokenizer())
    tok.add_tokens(["<extra>"])
    tok.save_pretrained(other)
    assert main(["diff", TEXT, "--model", str(a), "--against", str(other), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert (
        "does not share model A's vocabulary" in err and "id 49152 is absent in model A and '<extra>'" in err
    )
    assert main(["diff", TEXT, "--model", str(a), "--dtype-b", "float8"]) == 2
    assert "--dtype-b must be one of" in capsys.readouterr().err
    assert main(["diff", "   ", "--model", str(a)]) == 2
    assert main(["diff", TEXT, "--model", str(a), "-k", "0"]) == 2
