"""``workbench lens`` and ``workbench score`` on a saved tiny model: --json equals a direct
computation; the human output shows the grid and the scores; bad input is one clear line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.models import save_tiny_folder, tiny_loaded
from workbench.cli import main

TEXT = "The capital of France is Paris"
HOSTILE = " [bold]x[/] \x1b]52;c;SGk=\x07"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_folder(tmp_path_factory.mktemp("cli-lens") / "tiny")


def run_json(capsys, *args: str) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_lens_json_is_each_layer_through_the_norm_and_head(folder, capsys):
    record = run_json(
        capsys, "lens", TEXT, "--model", str(folder), "--dtype", "float32", "-k", "3", "-p", "-1"
    )
    model = tiny_loaded().model
    ids = tiny_loaded().tokenizer.encode(TEXT)
    assert record["ids"] == ids and record["position"] == len(ids) - 1
    assert record["chosen"]["id"] == ids[-1] and record["final_norm"] == "model.norm"
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
        row = len(ids) - 2  # the prediction of the last token
        hand = [torch.softmax(model.lm_head(model.model.norm(h[0, row])), -1) for h in out.hidden_states[:-1]]
        hand.append(torch.softmax(out.logits[0, row], -1))
    assert [layer["layer"] for layer in record["layers"]] == [0, 1, 2]
    for layer, p in zip(record["layers"], hand, strict=True):
        values, top = p.topk(3)
        assert [c["id"] for c in layer["candidates"]] == top.tolist()
        assert [c["p"] for c in layer["candidates"]] == pytest.approx(values.tolist(), abs=1e-6, rel=1e-5)
        assert layer["chosen_p"] == pytest.approx(p[ids[-1]].item(), abs=1e-7, rel=1e-5)
        assert all(set(c) == {"id", "token", "p"} for c in layer["candidates"])
    assert record["provenance"]["source"] == "folder" and record["dtype"] == "float32"


def test_score_json_equals_direct_softmax_gathered_at_the_next_ids(folder, capsys, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    record = run_json(capsys, "score", "--file", str(path), "--model", str(folder), "--dtype", "float32")
    ids = tiny_loaded().tokenizer.encode(TEXT)
    with torch.no_grad():
        p = torch.softmax(tiny_loaded().model(torch.tensor([ids])).logits[0], -1)
    direct = [p[i - 1, ids[i]].item() for i in range(1, len(ids))]
    assert [t["id"] for t in record["tokens"]] == ids
    assert record["tokens"][0]["p"] is None and record["tokens"][0]["rank"] is None
    assert [t["p"] for t in record["tokens"][1:]] == pytest.approx(direct, rel=1e-5)
    assert [t["rank"] for t in record["tokens"][1:]] == [
        int((p[i - 1] > p[i - 1, ids[i]]).sum()) + 1 for i in range(1, len(ids))
    ]
    mean = sum(-math.log(x) for x in direct) / len(direct)
    assert record["perplexity"] == pytest.approx(math.exp(mean), rel=1e-5)
    assert record["window"] == 512 and record["stride"] == 256  # the tiny model's context is 512


def test_human_output_keeps_hostile_text_inert(folder, capsys):
    assert main(["lens", TEXT + HOSTILE, "--model", str(folder), "-k", "2"]) == 0
    lens_out = capsys.readouterr().out
    assert "emb" in lens_out and "p chosen" in lens_out and "\x1b" not in lens_out
    assert main(["score", TEXT + HOSTILE, "--model", str(folder), "--window", "4", "--stride", "2"]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "most surprising" in out and "stride 2 (12 passes)" in out
    assert "[bold]x[/]" in out and "\x1b" not in out


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (["lens", TEXT, "--position", "0"], "outside 1..", 2),
        (["lens", TEXT, "--position", "x"], "--position must be a whole number", 2),
        (["lens", TEXT, "--top-k", "99"], "top-k must be from 1 to 50", 2),
        (["score"], "give the text to score, or --file", 2),
        (["score", "hi", "--window", "8", "--stride", "8"], "the stride must be from 1 to 7", 2),
        (["score", "--file", "/nonexistent/x.txt"], "cannot read", 1),
    ],
)
def test_bad_input_gives_one_clear_line(folder, capsys, args, words, code):
    assert main([*args, "--model", str(folder)]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
