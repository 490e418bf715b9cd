"""``workbench fill`` as a user runs it: --json on a masked-LM folder equals a direct softmax; errors."""

from __future__ import annotations

import json

import pytest

from tests.fill_models import direct_fill, save_bert_mlm
from tests.unit.test_cli import workbench
from workbench.cli import main

TEXT = "The capital of France is [MASK] and [MASK]."


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_bert_mlm(tmp_path_factory.mktemp("cli-fill") / "bert-mlm")


def test_json_equals_direct_softmax_at_each_mask(folder):
    """With the default dtype: ``auto`` keeps the checkpoint's own (float32 here)."""
    result = workbench("fill", TEXT, "--model", str(folder), "--top-k", "7", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    expected = direct_fill(folder, TEXT)
    assert record["model"] == "bert-mlm" and record["text"] == TEXT and record["mask_token"] == "[MASK]"
    assert [m["position"] for m in record["masks"]] == [pos for pos, _ in expected] == [6, 8]
    for mask, (_, probs) in zip(record["masks"], expected, strict=True):
        values, ids = probs.topk(7)
        assert [c["id"] for c in mask["candidates"]] == ids.tolist()
        assert [c["p"] for c in mask["candidates"]] == pytest.approx(values.tolist(), abs=1e-5)
        assert all(isinstance(c["token"], str) and c["token"] for c in mask["candidates"])
    assert record["provenance"]["source"] == "folder" and record["dtype"] == "float32"
    assert record["device"] == "cpu"


def test_human_output_has_ranks_tokens_ids_p_and_bars(folder, capsys):
    text = TEXT + " \x1b]52;c;SGk=\x07"  # a terminal escape in the text never reaches stdout
    assert main(["fill", text, "--model", str(folder), "--dtype", "float32", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "mask 1 of 2 (token position 6)" in out and "mask 2 of 2 (token position 8)" in out
    expected = direct_fill(folder, text)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    for _, probs in expected:
        value, token_id = float(probs.max()), int(probs.argmax())
        row = next(line for line in out.splitlines() if f" {value:.4f} " in line)
        assert row.split()[:3] == ["1", tok.convert_ids_to_tokens(token_id), str(token_id)]
        assert row.rstrip().endswith("█" * 30)  # the top candidate's bar is the full width
    assert "\x1b" not in out and "→ the capital of france is" in out


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (
            ["fill", "x [MASK]"],
            "fill needs a masked language model, and the default model is a causal one",
            2,
        ),
        (["fill", "x [MASK]", "--model", "default"], "--model, e.g. --model distilbert-base-uncased", 2),
        (["fill", "   ", "--model", "{mlm}"], "text to fill is empty", 1),
        (["fill", "no blank here", "--model", "{mlm}"], "the text has no mask; write [MASK]", 1),
        (["fill", "x [MASK]", "--model", "{mlm}", "--top-k", "0"], "top-k must be from 1 to 50", 2),
        (["fill", "x [MASK]", "--model", "nosuch/model-xyz"], "not in the Hugging Face cache", 1),
    ],
)
def test_bad_input_gives_one_clear_line(folder, capsys, args, words, code):
    args = [a.replace("{mlm}", str(folder)) for a in args]
    assert main(args) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("workbench: error: ") and words in lines[0]
