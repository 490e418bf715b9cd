"""Fill-mask in the engine: the candidates equal a direct softmax at each mask; the refusals."""

from __future__ import annotations

import json

import pytest

from tests.fill_models import direct_fill, save_bert_mlm
from workbench.engine.errors import ModelLoadError, PromptError, SettingsError
from workbench.engine.fillmask import fill, with_model_mask
from workbench.engine.masked_lm_loading import check_masked_lm, load_masked_lm
from workbench.engine.settings import LoadSettings, check_top_k
from workbench.engine.sources import resolve_source

TWO_MASKS = "The capital of France is [MASK] and [MASK]."


@pytest.fixture(scope="module")
def mlm_folder(tmp_path_factory):
    return save_bert_mlm(tmp_path_factory.mktemp("fill") / "bert-mlm")


@pytest.fixture(scope="module")
def mlm(mlm_folder):
    return load_masked_lm(LoadSettings(model=str(mlm_folder), device="cpu", dtype="float32"))


def test_each_mask_equals_the_direct_softmax(mlm, mlm_folder):
    result = fill(mlm, TWO_MASKS, top_k=6)
    expected = direct_fill(mlm_folder, TWO_MASKS)
    assert [m.position for m in result.masks] == [pos for pos, _ in expected] == [6, 8]
    for mask, (_, probs) in zip(result.masks, expected, strict=True):
        values, ids = probs.topk(6)
        assert [c.token_id for c in mask.candidates] == ids.tolist()
        assert [c.p for c in mask.candidates] == pytest.approx(values.tolist(), abs=1e-5)
        for c in mask.candidates:  # each p is the softmax at this mask, not the other one
            assert c.p == pytest.approx(float(probs[c.token_id]), abs=1e-5)
    # The two masks see different contexts: a mix-up of positions would show.
    assert result.masks[0].top.token_id != result.masks[1].top.token_id
    assert result.input_tokens == 11 and result.mask_token == "[MASK]"
    first, second = (m.top.token for m in result.masks)  # plain words with this seed
    assert result.filled == f"the capital of france is {first} and {second}."


def test_labels_show_subword_marks_and_top_k_is_capped_by_the_vocabulary(mlm):
    result = fill(mlm, "[MASK]", top_k=50)
    candidates = result.masks[0].candidates
    assert len(candidates) == len(mlm.tokenizer) == 36  # all of a 36-token vocabulary
    labels = {c.token_id: c.token for c in candidates}
    assert labels[mlm.tokenizer.convert_tokens_to_ids("##ing")] == "##ing"
    assert labels[mlm.tokenizer.convert_tokens_to_ids("paris")] == "paris"
    assert sum(c.p for c in candidates) == pytest.approx(1.0, abs=1e-5)
    assert [c.p for c in candidates] == sorted((c.p for c in candidates), reverse=True)


def test_typed_mask_becomes_the_models_own_mask_token(tmp_path):
    folder = save_bert_mlm(tmp_path / "angle", mask_token="<mask>")
    loaded = load_masked_lm(LoadSettings(model=str(folder), device="cpu", dtype="float32"))
    result = fill(loaded, "the capital is [MASK] .", top_k=3)
    expected = direct_fill(folder, "the capital is <mask> .")
    assert result.mask_token == "<mask>" and result.model_text == "the capital is <mask> ."
    assert len(result.masks) == 1 and result.masks[0].position == expected[0][0]
    values, ids = expected[0][1].topk(3)
    assert [c.token_id for c in result.masks[0].candidates] == ids.tolist()
    assert [c.p for c in result.masks[0].candidates] == pytest.approx(values.tolist(), abs=1e-5)
    assert len(fill(loaded, "a <mask> and a [MASK]").masks) == 2  # either spelling works
    assert with_model_mask("x [MASK] y", "[MASK]") == "x [MASK] y"


def test_text_without_a_mask_and_bad_top_k(mlm):
    with pytest.raises(PromptError, match=r"no mask; write \[MASK\]"):
        fill(mlm, "The capital of France is Paris.")
    with pytest.raises(PromptError, match="empty"):
        fill(mlm, "   ")
    for bad in ("0", "51", "x", "2.5"):
        with pytest.raises(SettingsError, match="top-k"):
            check_top_k(bad)
    assert check_top_k(" 7 ") == 7


def test_a_tokenizer_without_a_mask_token_is_refused(mlm):
    from copy import deepcopy
    from dataclasses import replace

    tokenizer = deepcopy(mlm.tokenizer)
    tokenizer.mask_token = None
    with pytest.raises(PromptError, match="has no mask token"):
        fill(replace(mlm, tokenizer=tokenizer, _table=None), "The capital of France is [MASK].")


def test_causal_and_classifier_models_point_to_their_commands(tmp_path):
    """Refused from the config alone, before any weights load (so a config is all the folder needs)."""
    from transformers import DistilBertConfig, LlamaConfig

    LlamaConfig(architectures=["LlamaForCausalLM"]).save_pretrained(tmp_path / "llama")
    with pytest.raises(ModelLoadError, match="causal language model.*chat, generate or probe"):
        load_masked_lm(LoadSettings(model=str(tmp_path / "llama"), device="cpu"))
    DistilBertConfig(architectures=["DistilBertForSequenceClassification"]).save_pretrained(tmp_path / "clf")
    with pytest.raises(ModelLoadError, match="sequence classifier.*use classify"):
        load_masked_lm(LoadSettings(model=str(tmp_path / "clf"), device="cpu"))
    with pytest.raises(ModelLoadError, match="causal language model.*distilbert-base-uncased"):
        check_masked_lm(resolve_source("default"), LoadSettings())


def test_an_encoder_without_a_trained_head_is_refused(tmp_path, mlm_folder):
    """A bare BertModel: by its architecture, and (config without architectures) by missing weights."""
    from transformers import BertModel

    bare = tmp_path / "bare"
    BertModel.from_pretrained(mlm_folder).save_pretrained(bare)
    with pytest.raises(ModelLoadError, match="BertModel model, without a masked-LM head"):
        load_masked_lm(LoadSettings(model=str(bare), device="cpu"))
    config = json.loads((bare / "config.json").read_text())
    del config["architectures"]
    (bare / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (bare / name).write_bytes((mlm_folder / name).read_bytes())
    with pytest.raises(ModelLoadError, match="no trained masked-LM head"):
        load_masked_lm(LoadSettings(model=str(bare), device="cpu"))


def test_engine_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, workbench.engine.fillmask\nassert 'torch' not in sys.modules\n"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
