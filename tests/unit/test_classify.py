"""Classification: a classifier's softmax and zero-shot label scoring equal direct computations."""

from __future__ import annotations

import pytest
from transformers import BertConfig

from tests.classify_models import (
    LABELS,
    direct_leave_one_out,
    direct_softmax,
    direct_zero_shot,
    save_bert_masked_lm,
    save_distilbert_classifier,
    save_llama_classifier,
)
from tests.models import bundled_loaded, tiny_loaded
from workbench.engine.classifier_loading import load_for_classify, model_kind
from workbench.engine.classify import (
    DEFAULT_LABELS,
    DEFAULT_TEMPLATE,
    check_template,
    classify,
    fill_template,
    is_classifier,
    label_continuation,
    parse_labels,
    zero_shot,
)
from workbench.engine.errors import ModelLoadError, PromptError, SettingsError
from workbench.engine.loading import load_model
from workbench.engine.settings import LoadSettings
from workbench.engine.sources import resolve_source

TEXT = "I loved this film, it was wonderful"


@pytest.mark.parametrize(
    "save", [save_llama_classifier, save_distilbert_classifier], ids=["llama", "distilbert"]
)
def test_classifier_folder_is_detected_and_equals_direct_softmax(tmp_path, save):
    folder = save(tmp_path / "clf")
    loaded = load_for_classify(LoadSettings(model=str(folder), device="cpu", dtype="float32"))
    assert is_classifier(loaded)
    result = classify(loaded, TEXT)
    expected = direct_softmax(folder, TEXT)
    assert result.method == "classifier"
    assert {s.label for s in result.labels} == set(expected)
    for score in result.labels:
        assert score.p == pytest.approx(expected[score.label], abs=1e-5)
    assert [s.p for s in result.labels] == sorted((s.p for s in result.labels), reverse=True)
    assert result.top.label == max(expected, key=lambda k: expected[k])
    assert sum(s.p for s in result.labels) == pytest.approx(1.0, abs=1e-6)
    assert loaded.provenance()["source"] == "folder"


@pytest.mark.parametrize(
    "save", [save_llama_classifier, save_distilbert_classifier], ids=["llama", "distilbert"]
)
def test_leave_one_out_effects_equal_one_forward_pass_per_variant(tmp_path, save):
    """Batched leave-one-out (all variants in one pass) equals removing each token by hand.

    Catches: the wrong position removed, special tokens removed or scored, the effect taken on
    another label than the top one, the sign flipped, a padded or mis-shaped batch."""
    folder = save(tmp_path / "clf")
    loaded = load_for_classify(LoadSettings(model=str(folder), device="cpu", dtype="float32"))
    result = classify(loaded, TEXT, effects=True)
    top, expected = direct_leave_one_out(folder, TEXT)
    assert result.top.label == top
    assert [e.position for e in result.effects] == [i for i, _ in expected]
    assert [e.delta for e in result.effects] == pytest.approx([d for _, d in expected], abs=1e-5)
    for effect in result.effects:
        assert effect.p_without == pytest.approx(result.top.p + effect.delta, abs=1e-6)
        assert effect.label == loaded.table.label(effect.token_id)
    assert max(abs(e.delta) for e in result.effects) > 1e-4  # the model is not blind to its input
    assert classify(loaded, TEXT).effects == ()  # only when asked


def test_classifier_refuses_labels_and_template(tmp_path):
    loaded = load_for_classify(LoadSettings(model=str(save_llama_classifier(tmp_path / "c")), device="cpu"))
    with pytest.raises(SettingsError, match="classifier with its own labels"):
        classify(loaded, TEXT, labels="a,b")
    assert set(LABELS.values()) == {s.label for s in classify(loaded, TEXT).labels}


def test_zero_shot_equals_direct_computation_with_multi_token_labels():
    loaded = tiny_loaded()
    labels = ["positive", "negative", "very mixed feelings"]
    result = zero_shot(loaded, TEXT, labels, DEFAULT_TEMPLATE)
    expected = direct_zero_shot(loaded, fill_template(DEFAULT_TEMPLATE, TEXT), labels)
    assert result.prompt == f"Review: {TEXT}\nSentiment:"
    assert len(next(s for s in result.labels if s.label == labels[2]).tokens) > 1
    for score in result.labels:
        p, token_ps = expected[score.label]
        assert score.p == pytest.approx(p, abs=1e-5)
        assert [t.p for t in score.tokens] == pytest.approx(token_ps, abs=1e-5, rel=1e-4)
    assert [s.p for s in result.labels] == sorted((s.p for s in result.labels), reverse=True)
    assert sum(s.p for s in result.labels) == pytest.approx(1.0)


@pytest.mark.slow
def test_zero_shot_on_the_bundled_model_gets_sentiment_right():
    """Behaviour, not truth: the default template on SmolLM2-135M (float32, CPU)."""
    loaded = bundled_loaded()
    for text, want in [
        (TEXT, "positive"),
        ("I love programming!", "positive"),
        ("This movie was terrible and boring.", "negative"),
    ]:
        result = classify(loaded, text)
        assert result.method == "zero-shot" and result.labels[0].label == want, (text, result.labels)


def test_label_and_template_checks():
    assert parse_labels(None) == DEFAULT_LABELS
    assert parse_labels(" good , bad,, meh ") == ("good", "bad", "meh")
    for bad, words in [("", "no labels"), (",", "no labels"), ("one", "at least two"), ("a,a", "twice")]:
        with pytest.raises(SettingsError, match=words):
            parse_labels(bad)
    assert check_template(None) == DEFAULT_TEMPLATE
    with pytest.raises(SettingsError, match=r"\{text\}"):
        check_template("Review: text")
    # Other braces are text, not format fields: no KeyError, no IndexError.
    assert fill_template("{x} {} {text}!", "[bold]") == "{x} {} [bold]!"
    assert label_continuation("Sentiment:", "positive") == " positive"
    assert label_continuation("Answer:\n", "positive") == "positive"
    with pytest.raises(PromptError, match="empty"):
        classify(tiny_loaded(), "   ")


def test_masked_lm_folder_is_refused_with_a_pointer(tmp_path):
    folder = tmp_path / "bert"
    BertConfig(architectures=["BertForMaskedLM"]).save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="BertForMaskedLM.*sequence-classification"):
        model_kind(resolve_source(str(folder)), LoadSettings())


def _llama_classifier_config(folder):
    from transformers import LlamaConfig

    LlamaConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        architectures=["LlamaForSequenceClassification"],
    ).save_pretrained(folder)
    return folder


def _bare_bert(folder):
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("save", "words"),
    [
        (
            save_distilbert_classifier,
            r"clf is a sequence-classification model \(DistilBertForSequenceClassification\).*"
            r"cannot chat.*workbench classify 'TEXT' --model .*clf \(or the Classify tab, F9\)",
        ),
        # The sneaky one: AutoModelForCausalLM would load it as a Llama with a random LM head.
        (_llama_classifier_config, r"\(LlamaForSequenceClassification\).*workbench classify"),
        (
            save_bert_masked_lm,
            r"clf is a masked language model \(BertForMaskedLM, encoder-only\).*cannot chat.*"
            r"workbench fill '.*\[MASK\].*' --model .*clf \(or the Fill tab, F10\)",
        ),
        (_bare_bert, r"encoder-only model \(bert\).*workbench fill.*workbench classify"),
    ],
    ids=["distilbert-classifier", "llama-classifier", "bert-masked-lm", "bert-no-architectures"],
)
def test_load_model_says_what_a_non_generative_model_is_and_what_takes_it(tmp_path, save, words):
    """Catches: a classifier or encoder opened for chat loaded anyway (BERT as a "decoder", a
    Llama classifier with a random LM head) or failing with a transformers message."""
    folder = save(tmp_path / "clf")
    with pytest.raises(ModelLoadError, match=words) as caught:
        load_model(LoadSettings(model=str(folder), device="cpu", dtype="float32"))
    assert "\n" not in str(caught.value)
