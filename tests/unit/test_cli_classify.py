"""``workbench classify`` as a user runs it: a classifier folder, zero-shot, the bundled model, errors."""

from __future__ import annotations

import json

import pytest

from tests.classify_models import direct_softmax, direct_zero_shot, save_llama_classifier
from tests.models import save_tiny_folder, tiny_loaded
from tests.unit.test_cli import workbench
from workbench.cli import main
from workbench.engine.classify import DEFAULT_TEMPLATE, fill_template

TEXT = "I loved this film, it was wonderful"


def test_json_on_a_classifier_folder_equals_direct_softmax(tmp_path):
    folder = save_llama_classifier(tmp_path / "clf")
    result = workbench("classify", TEXT, "--model", str(folder), "--dtype", "float32", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    expected = direct_softmax(folder, TEXT)
    assert record["model"] == "clf" and record["text"] == TEXT and record["method"] == "classifier"
    assert [e["label"] for e in record["labels"]] == sorted(expected, key=lambda k: -expected[k])
    for entry in record["labels"]:
        assert entry["p"] == pytest.approx(expected[entry["label"]], abs=1e-5)
    assert record["winner"] == record["labels"][0]["label"]
    assert record["provenance"]["source"] == "folder" and record["dtype"] == "float32"
    assert record["device"] == "cpu"


def test_zero_shot_in_process_json_and_human_output(tmp_path, capsys):
    folder = save_tiny_folder(tmp_path / "tiny")
    labels = ["good", "bad", "so-so"]
    args = ["classify", TEXT, "--model", str(folder), "--dtype", "float32", "--labels", ",".join(labels)]
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    expected = direct_zero_shot(tiny_loaded(), fill_template(DEFAULT_TEMPLATE, TEXT), labels)
    assert record["method"] == "zero-shot" and record["template"] == DEFAULT_TEMPLATE
    for entry in record["labels"]:
        assert entry["p"] == pytest.approx(expected[entry["label"]][0], abs=1e-5)
        assert [t["p"] for t in entry["tokens"]] == pytest.approx(expected[entry["label"]][1], rel=1e-4)
    assert [e["p"] for e in record["labels"]] == sorted((e["p"] for e in record["labels"]), reverse=True)

    assert main([*args, "--template", "Text: {text}\\nVerdict:"]) == 0
    out = capsys.readouterr().out
    assert "Text: I loved this film, it was wonderful\\nVerdict:" in out  # the prompt, shown with repr
    assert all(label in out for label in labels) and "→" in out and "█" in out
    assert "␣good" in out  # the per-token breakdown with visible whitespace


@pytest.mark.slow
def test_bundled_model_says_positive():
    result = workbench("classify", "I love programming!", "--dtype", "float32", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["labels"][0]["label"] == "positive", record["labels"]
    assert record["provenance"]["source"] == "bundled"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["classify", "  "], "text to classify is empty"),
        (["classify", "x", "--labels", ","], "no labels given"),
        (["classify", "x", "--labels", "yes"], "at least two labels"),
        (["classify", "x", "--template", "Review: text"], "no {text} placeholder"),
        (["classify", "x", "--model", "nosuch/model-xyz"], "not in the Hugging Face cache"),
        (["classify", "x", "--model", "{clf}", "--labels", "a,b"], "classifier with its own labels"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, args, words):
    if "{clf}" in args:
        args = [a.replace("{clf}", str(save_llama_classifier(tmp_path / "clf"))) for a in args]
    assert main(args) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("workbench: error: ") and words in lines[0]
