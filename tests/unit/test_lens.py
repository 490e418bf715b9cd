"""The logit lens against hand computation, on every family of the zoo and the bundled model."""

from __future__ import annotations

import pytest
import torch

from tests.zoo import FAMILIES, zoo_loaded
from workbench.engine.decoding import Decoder
from workbench.engine.errors import SettingsError
from workbench.engine.lens import clear_cache, final_norm, logit_lens, resolve_target

IDS = [1, 504, 3458, 282, 4649, 314, 7042, 30]  # <|im_start|>The capital of France is Paris.
TARGET = 6  # the lens of the prediction of token 6 (" Paris") from the six before it


def hand_norm(family: str, model):
    """Each family's final norm, named by hand (not the engine's lookup)."""
    if family == "gpt2":
        return model.transformer.ln_f
    if family == "gpt_neox":
        return model.gpt_neox.final_layer_norm
    return model.model.norm


def hand_head(family: str, model, hidden: torch.Tensor) -> torch.Tensor:
    logits = model.lm_head(hidden)
    if family == "gemma2":  # Gemma 2's final soft-cap, written out
        cap = model.config.final_logit_softcapping
        logits = cap * torch.tanh(logits / cap)
    return logits.float()


@pytest.mark.parametrize("family", FAMILIES)
def test_last_layer_is_p_and_a_middle_layer_is_the_hand_lens(family):
    loaded = zoo_loaded(family)
    model = loaded.model
    result = logit_lens(loaded, IDS, TARGET, top_k=5)
    layers = model.config.get_text_config().num_hidden_layers
    assert [layer.layer for layer in result.layers] == list(range(layers + 1))
    assert result.chosen_id == IDS[TARGET]

    # The last layer: the model's own p at this position, as tutorial code computes it...
    with torch.no_grad():
        out = model(torch.tensor([IDS]), output_hidden_states=True)
    p = torch.softmax(out.logits[0, TARGET - 1].float(), -1)
    values, ids = p.topk(5)
    last = result.layers[-1]
    assert [c.token_id for c in last.candidates] == ids.tolist()
    assert [c.p for c in last.candidates] == pytest.approx(values.tolist(), abs=1e-6, rel=1e-5)
    assert last.chosen_p == pytest.approx(p[IDS[TARGET]].item(), abs=1e-7, rel=1e-5)
    assert last.chosen_rank == int((p > p[IDS[TARGET]]).sum()) + 1
    # ...and the engine's own p (the Decoder with its KV cache, as the chat computes it).
    engine_p = Decoder(loaded, IDS[:TARGET]).distribution(top_k=5)
    assert [c.token_id for c in last.candidates] == [c.token_id for c in engine_p.candidates]
    assert [c.p for c in last.candidates] == pytest.approx(
        [c.p for c in engine_p.candidates], abs=1e-6, rel=1e-5
    )

    # A middle layer: its hidden state through the final norm and lm_head, by hand.
    middle = layers // 2
    with torch.no_grad():
        hidden = out.hidden_states[middle][0, TARGET - 1]
        hand = torch.softmax(hand_head(family, model, hand_norm(family, model)(hidden)), -1)
    assert hand_norm(family, model) is final_norm(model)[0]
    values, ids = hand.topk(5)
    row = result.layers[middle]
    assert [c.token_id for c in row.candidates] == ids.tolist()
    assert [c.p for c in row.candidates] == pytest.approx(values.tolist(), abs=1e-6, rel=1e-5)
    assert row.chosen_p == pytest.approx(hand[IDS[TARGET]].item(), abs=1e-7, rel=1e-5)
    # The middle layer is not the last one (else the test above proves nothing about it).
    assert row.candidates != last.candidates
    assert result.head_check < 1e-3


def test_the_token_after_the_text_is_the_last_layers_top_and_one_pass_serves_every_position():
    loaded = zoo_loaded("llama3")
    clear_cache()
    passes = []
    hook = loaded.model.register_forward_hook(lambda *_: passes.append(1))
    try:
        after = logit_lens(loaded, IDS)  # default: the token after the text
        assert after.target == len(IDS)
        assert after.chosen_id == after.layers[-1].candidates[0].token_id
        assert after.layers[-1].chosen_rank == 1
        for target in range(1, len(IDS)):
            assert logit_lens(loaded, IDS, target).chosen_id == IDS[target]
        assert len(passes) == 1  # cached per (model, ids)
        logit_lens(loaded, IDS[:-1])
        assert len(passes) == 2  # other ids: a new pass
    finally:
        hook.remove()


def test_positions_are_checked():
    assert resolve_target(5, None) == 5
    assert resolve_target(5, 2) == 2
    assert resolve_target(5, -1) == 4
    for bad in (0, 6, -5):
        with pytest.raises(SettingsError, match="outside 1..5"):
            resolve_target(5, bad)


def test_bundled_model_paris_rises_through_the_layers():
    from tests.models import bundled_loaded

    loaded = bundled_loaded()
    ids = loaded.tokenizer.encode("The capital of France is")
    result = logit_lens(loaded, ids, top_k=3)
    assert result.chosen == "␣Paris"
    assert result.layers[-1].candidates[0].token == "␣Paris"
    assert len(result.layers) == loaded.model.config.num_hidden_layers + 1
    # The embeddings alone do not predict it; the last layer does.
    assert result.layers[0].chosen_p < 0.01 < result.layers[-1].chosen_p
    direct = Decoder(loaded, ids).distribution(top_k=1)
    assert result.layers[-1].chosen_p == pytest.approx(direct.candidates[0].p, abs=1e-6)
