"""Model against model: KL(A‖B) equals a direct torch computation; other vocabularies and
models too big for free memory are refused before any weights load."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.models import save_tiny_folder, smol_tokenizer, tiny_loaded
from workbench.engine.loading import LoadedModel
from workbench.engine.model_diff import (
    MemoryShortError,
    VocabularyMismatchError,
    check_same_vocabulary,
    diff_ids,
    diff_text,
    estimate_weight_bytes,
    load_model_b,
)
from workbench.engine.settings import LoadSettings
from workbench.engine.sources import resolve_source

TEXT = "The capital of France is Paris, and [bold] <script> stays text."


def direct_log_probs(loaded: LoadedModel, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids])).logits[0, :-1]
    return torch.log_softmax(logits.float(), -1)


def test_kl_equals_torch_kl_div_and_top_k_equals_softmax() -> None:
    a, b = tiny_loaded(0), tiny_loaded(1)
    result = diff_text(a, b, TEXT, top_k=4)
    ids = list(result.ids)
    assert ids == smol_tokenizer().encode(TEXT)
    log_a, log_b = direct_log_probs(a, ids), direct_log_probs(b, ids)
    # torch's own KL: kl_div(input=log Q, target=log P, log_target=True) sums P (log P - log Q).
    expected = torch.nn.functional.kl_div(log_b, log_a, log_target=True, reduction="none").sum(-1)
    assert [t.kl for t in result.tokens] == pytest.approx(expected.tolist(), rel=1e-4, abs=1e-6)
    assert result.mean_kl == pytest.approx(expected.mean().item(), rel=1e-4)
    assert min(t.kl for t in result.tokens) > 0.01  # two random models do disagree
    for n, token in enumerate(result.tokens):
        assert token.position == n + 1 and token.token_id == ids[n + 1]
        assert token.p_a == pytest.approx(log_a[n, ids[n + 1]].exp().item(), rel=1e-4)
        assert token.p_b == pytest.approx(log_b[n, ids[n + 1]].exp().item(), rel=1e-4)
        values, top = log_a[n].exp().topk(4)
        assert [c.token_id for c in token.top_a] == top.tolist()
        assert [c.p for c in token.top_a] == pytest.approx(values.tolist(), rel=1e-4)
        assert [c.token_id for c in token.top_b] == log_b[n].topk(4).indices.tolist()
    tail = diff_ids(a, b, ids, top_k=4, start=5)  # a reply after a 5-token prompt
    assert [t.position for t in tail.tokens] == list(range(5, len(ids)))
    assert [t.kl for t in tail.tokens] == [t.kl for t in result.tokens[4:]]
    most = result.most_different(3)
    assert [t.kl for t in most] == sorted((t.kl for t in result.tokens), reverse=True)[:3]


def test_a_model_against_itself_is_zero_and_bfloat16_is_small_but_not_zero() -> None:
    a = tiny_loaded(0)
    ids = smol_tokenizer().encode(TEXT)
    assert all(t.kl == 0.0 for t in diff_ids(a, a, ids).tokens)
    half = LoadedModel.wrap(copy.deepcopy(a.model).to(torch.bfloat16), a.tokenizer, name="tiny-bf16")
    result = diff_ids(a, half, ids)
    expected = torch.nn.functional.kl_div(
        direct_log_probs(half, ids), direct_log_probs(a, ids), log_target=True, reduction="none"
    ).sum(-1)
    assert [t.kl for t in result.tokens] == pytest.approx(expected.tolist(), rel=1e-3, abs=1e-7)
    assert 0 < result.mean_kl < 0.05


def test_another_vocabulary_is_refused_naming_the_first_difference(tmp_path: Path) -> None:
    a = tiny_loaded(0)
    other = copy.deepcopy(a.tokenizer)
    other.add_tokens(["<my-new-token>"])
    with pytest.raises(VocabularyMismatchError, match=r"id 49152 is absent in model A and '<my-new-token>'"):
        check_same_vocabulary(a.tokenizer, other)
    check_same_vocabulary(a.tokenizer, copy.deepcopy(a.tokenizer))  # the same: accepted

    # Through load_model_b: refused from the tokenizer, before the weights are read.
    folder = save_tiny_folder(tmp_path / "tiny")
    other.save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"not weights: never read")
    with pytest.raises(VocabularyMismatchError, match="does not share model A's vocabulary"):
        load_model_b(a, LoadSettings(model=str(folder), device="cpu", dtype="float32"))


def test_model_b_is_refused_when_it_would_not_fit(tmp_path: Path) -> None:
    a = tiny_loaded(0)
    folder = save_tiny_folder(tmp_path / "tiny")
    params = sum(p.numel() for p in a.model.parameters())
    source = resolve_source(str(folder))
    assert estimate_weight_bytes(source, torch.float32) == params * 4
    assert estimate_weight_bytes(source, torch.bfloat16) == params * 2
    settings = LoadSettings(model=str(folder), device="cpu", dtype="float32")
    with pytest.raises(MemoryShortError, match=r"model B would not fit.*GiB free"):
        load_model_b(a, settings, available=params * 4)  # the weights alone, no room to compute
    b = load_model_b(a, replace(settings, dtype="bfloat16"), available=params * 4)
    assert b.dtype == torch.bfloat16
    assert diff_ids(a, b, smol_tokenizer().encode(TEXT)).mean_kl < 0.05
