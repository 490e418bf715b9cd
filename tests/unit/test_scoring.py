"""Scoring a text against a direct softmax(model(ids).logits) gathered at the next ids."""

from __future__ import annotations

import math

import pytest
import torch

from tests.models import tiny_loaded
from tests.zoo import FAMILIES, zoo_loaded
from workbench.engine.errors import SettingsError
from workbench.engine.scoring import ScoringCancelled, plan_windows, score_ids, score_text

TEXT = "The capital of France is Paris. It is known for the Eiffel Tower, caf\u00e9s and museums \U0001f600."


def direct(model, ids: list[int]) -> tuple[list[float], list[int]]:
    """p and rank of each next id under softmax(model(ids).logits), as tutorial code writes it."""
    with torch.no_grad():
        p = torch.softmax(model(torch.tensor([ids])).logits[0].float(), -1)[:-1]
    nxt = torch.tensor(ids[1:])
    chosen = p.gather(1, nxt[:, None])
    return chosen[:, 0].tolist(), ((p > chosen).sum(-1) + 1).tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_score_equals_the_direct_softmax_at_the_next_ids(family):
    loaded = zoo_loaded(family)
    result = score_text(loaded, "The capital of France is Paris, and Rome is")
    ids = [t.token_id for t in result.tokens]
    assert ids == loaded.tokenizer.encode("The capital of France is Paris, and Rome is")
    p, rank = direct(loaded.model, ids)
    assert result.tokens[0].p is None and result.tokens[0].rank is None
    assert [t.p for t in result.scored] == pytest.approx(p, rel=1e-5, abs=1e-9)
    assert [t.rank for t in result.scored] == rank
    assert result.windows == 1
    nll = [-math.log(x) for x in p]
    assert result.perplexity == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-6)
    assert result.mean_bits == pytest.approx(sum(nll) / len(nll) / math.log(2), rel=1e-6)


def test_a_sliding_window_scores_each_token_once_with_its_windows_context():
    loaded = tiny_loaded()
    ids = loaded.tokenizer.encode(TEXT)
    window, stride = 8, 3
    assert len(ids) > 2 * window
    seen: list[tuple[int, int]] = []
    result = score_ids(loaded, ids, window, stride, progress=lambda done, total: seen.append((done, total)))
    # The HF perplexity guide's loop, written out: each window scores what the last did not.
    expected: dict[int, tuple[float, int]] = {}
    previous_end = 0
    for begin in range(0, len(ids), stride):
        end = min(begin + window, len(ids))
        p, rank = direct(loaded.model, ids[begin:end])
        for offset in range(max(previous_end, begin + 1), end):
            expected[offset] = (p[offset - begin - 1], rank[offset - begin - 1])
        previous_end = end
        if end == len(ids):
            break
    assert sorted(expected) == list(range(1, len(ids)))
    assert [t.p for t in result.scored] == pytest.approx(
        [expected[i][0] for i in range(1, len(ids))], rel=1e-5
    )
    assert [t.rank for t in result.scored] == [expected[i][1] for i in range(1, len(ids))]
    assert result.windows > 3 and (result.window, result.stride) == (window, stride)
    # The window matters: past the first one, tokens lose context and differ from the full pass.
    full, _ = direct(loaded.model, ids)
    assert any(abs(math.log(t.p / full[t.index - 1])) > 1e-3 for t in result.scored if t.index >= window)
    # The progress callback counts up to every scored token.
    assert seen[0] == (0, len(ids) - 1) and seen[-1] == (len(ids) - 1, len(ids) - 1)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == result.windows + 1


def test_the_plan_covers_every_token_once():
    for length in (1, 2, 7, 8, 9, 30):
        for window, stride in ((8, 7), (8, 3), (8, 1), (2, 1)):
            plans = plan_windows(length, window, stride)
            scored = [i for _, end, first in plans for i in range(first, end)]
            assert scored == list(range(1, length)), (length, window, stride)
            for begin, end, first in plans:
                assert end - begin <= window and first > begin
    with pytest.raises(SettingsError):
        plan_windows(10, 8, 8)
    with pytest.raises(SettingsError):
        plan_windows(10, 1, 1)


def test_most_surprising_and_the_text_of_each_token():
    loaded = tiny_loaded()
    result = score_text(loaded, TEXT)
    worst = result.most_surprising(5)
    assert [t.p for t in worst] == sorted(t.p for t in result.scored)[:5]
    assert worst[0].bits == pytest.approx(-math.log2(worst[0].p))
    # The tokens' texts join into the text (the emoji's bytes go whole to the token ending it).
    assert "".join(t.text for t in result.tokens) == TEXT


def test_stopping_between_windows():
    loaded = tiny_loaded()
    ids = loaded.tokenizer.encode(TEXT)
    with pytest.raises(ScoringCancelled):
        score_ids(loaded, ids, 8, 4, should_stop=lambda: True)
