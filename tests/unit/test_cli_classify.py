"""``workbench classify`` as a user runs it: a classifier folder, zero-shot, the bundled model, errors."""

from __future__ import annotations

import csv
import json

import pytest

from tests.classify_models import (
    direct_leave_one_out,
    direct_softmax,
    direct_zero_shot,
    save_bert_masked_lm,
    save_distilbert_classifier,
    save_llama_classifier,
)
from tests.models import save_tiny_folder, tiny_loaded
from tests.unit.test_cli import workbench
from workbench.cli import main
from workbench.engine.classify import DEFAULT_TEMPLATE, fill_template

TEXT = "I loved this film, it was wonderful"


def test_json_on_a_classifier_folder_equals_direct_softmax(tmp_path):
    """With the default dtype: ``auto`` keeps the checkpoint's own (float32 here), so p is what
    the hand-written softmax gives (bfloat16, the chat's auto on this CPU, moved it by ~1e-3)."""
    folder = save_llama_classifier(tmp_path / "clf")
    result = workbench("classify", TEXT, "--model", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    expected = direct_softmax(folder, TEXT)
    assert record["model"] == "clf" and record["text"] == TEXT and record["method"] == "classifier"
    assert [e["label"] for e in record["labels"]] == sorted(expected, key=lambda k: -expected[k])
    for entry in record["labels"]:
        assert entry["p"] == pytest.approx(expected[entry["label"]], abs=1e-5)
    assert record["winner"] == record["labels"][0]["label"]
    assert record["provenance"]["source"] == "folder" and record["dtype"] == "float32"
    assert (
        record["provenance"]["dtype_reason"]
        == "float32: the checkpoint's own dtype (auto for one forward pass)"
    )
    assert record["device"] == "cpu"
    # The token effects ride along: the top label's p without each token, minus its p.
    top, effects = direct_leave_one_out(folder, TEXT)
    assert record["effects"]["label"] == top == record["winner"]
    got = [(e["position"], e["delta"]) for e in record["effects"]["tokens"]]
    assert got == [(i, pytest.approx(d, abs=1e-5)) for i, d in effects]


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


# --- batch mode ------------------------------------------------------------------------------

LINES = ["I loved this film", "it was terrible and boring", "the movie!"]
# Line numbers as an editor shows them: 2 and 3 blank, 5 not UTF-8, 6 ends in CRLF.
FILE = b"I loved this film\n\n   \nit was terrible and boring\n\xff\xfe bad\nthe movie!\r\n"
NUMBERS = [1, 4, 6]


def single(capsys, model: list[str], text: str) -> dict:
    assert main(["classify", text, *model, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("kind", ["classifier", "zero-shot"])
def test_file_to_csv_and_jsonl_rows_equal_single_text_results(tmp_path, capsys, kind):
    """Catches: a row that differs from classifying its line alone, a line lost or misnumbered,
    a blank or undecodable line that stops the run, CSV columns out of label order."""
    if kind == "classifier":
        model = ["--model", str(save_llama_classifier(tmp_path / "clf")), "--dtype", "float32"]
        names = ["negative", "neutral", "positive"]  # id2label order
    else:
        names = ["good", "bad"]
        model = ["--model", str(save_tiny_folder(tmp_path / "tiny")), "--dtype", "float32"]
        model += ["--labels", ",".join(names)]
    lines = tmp_path / "lines.txt"
    lines.write_bytes(FILE)
    expected = {text: single(capsys, model, text) for text in LINES}

    assert main(["classify", "--file", str(lines), "--out", str(tmp_path / "r.jsonl"), *model]) == 0
    err = capsys.readouterr().err
    assert "line 5: not UTF-8" in err and "classified 3 of 6 lines" in err, err
    assert "2 blank lines skipped" in err and "1 line failed" in err
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(r["text"], r["line"]) for r in records] == list(zip(LINES, NUMBERS, strict=True))
    for got in records:
        want = expected[got["text"]]
        assert {k: got[k] for k in ("model", "text", "method")} == {
            k: want[k] for k in ("model", "text", "method")
        }
        assert [e["label"] for e in got["labels"]] == [e["label"] for e in want["labels"]]
        assert [e["p"] for e in got["labels"]] == pytest.approx([e["p"] for e in want["labels"]], abs=1e-6)
        assert [e["p"] for e in got["labels"]] == sorted((e["p"] for e in got["labels"]), reverse=True)

    assert main(["classify", "--file", str(lines), "--out", str(tmp_path / "r.csv"), *model]) == 0
    capsys.readouterr()
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["text", "label", "p", *(f"p_{name}" for name in names), "line"]
    assert [(row[0], int(row[-1])) for row in rows[1:]] == list(zip(LINES, NUMBERS, strict=True))
    for row in rows[1:]:
        want = expected[row[0]]
        p = {e["label"]: e["p"] for e in want["labels"]}
        assert row[1] == want["labels"][0]["label"]
        assert float(row[2]) == pytest.approx(want["labels"][0]["p"], abs=1e-6)
        assert [float(v) for v in row[3:-1]] == pytest.approx([p[name] for name in names], abs=1e-6)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["x", "--file", "{lines}"], "give TEXT or --file, not both"),
        (["--out", "{tmp}/r.csv"], "--out is for --file"),
        ([], "give the TEXT to classify, or --file"),
        (["--file", "{lines}", "--out", "{tmp}/r.txt"], "--out must end in .csv or .jsonl"),
        (["--file", "{lines}", "--out", "{tmp}/no/such/dir/r.csv"], "cannot write --out"),
        (["--file", "{lines}", "--out", "{tmp}/folder.csv"], "cannot write --out"),  # a folder
        (["--file", "{tmp}/missing.txt"], "cannot read --file"),
        (["--file", "{blank}"], "has no text to classify (3 blank lines)"),
    ],
)
def test_file_mode_errors_are_one_line_before_any_model_load(tmp_path, capsys, monkeypatch, args, words):
    """Catches: a traceback, a model loaded (seconds) before a bad --out or --file is noticed."""
    (tmp_path / "lines.txt").write_text("good\n")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n")
    (tmp_path / "folder.csv").mkdir()
    names = {
        "{lines}": str(tmp_path / "lines.txt"),
        "{blank}": str(tmp_path / "blank.txt"),
        "{tmp}": str(tmp_path),
    }
    for key, value in names.items():
        args = [a.replace(key, value) for a in args]
    import workbench.engine.classifier_loading as loading

    monkeypatch.setattr(loading, "load_for_classify", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["classify", *args, "--model", "nosuch/model-xyz"]) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("workbench: error: ") and words in lines[0], lines[0]


@pytest.mark.parametrize(
    ("save", "words"),
    [
        (
            save_distilbert_classifier,
            "is a sequence-classification model (DistilBertForSequenceClassification)",
        ),
        (save_bert_masked_lm, "is a masked language model (BertForMaskedLM, encoder-only)"),
    ],
)
def test_generate_on_a_classifier_or_masked_lm_is_one_clear_line(tmp_path, capsys, save, words):
    """Catches: a transformers traceback, a model loaded as a causal LM anyway, exit code 0."""
    folder = save(tmp_path / "enc")
    capsys.readouterr()  # save_pretrained's own progress bar
    assert main(["generate", "hello", "--model", str(folder)]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("workbench: error: enc ") and words in lines[0]
    assert ("workbench classify" if "classification" in words else "workbench fill") in lines[0]
    assert captured.out == ""
