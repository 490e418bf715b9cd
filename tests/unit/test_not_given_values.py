"""Values a backend does not give (a server returns p or q, never both, no entropy, and
sometimes no token ids) stay "not given" from the reply to the database, exports and the
chart: NaN and id -1 inside, null in JSON, "n/a" on screen; never an invented number."""

from __future__ import annotations

import json
import math

from workbench.engine.steps import NO_ID, NOT_GIVEN, Candidate, TokenStep, given
from workbench.sessions.portable import _Check, _step, step_to_dict
from workbench.sessions.tokencodec import decode_chunks, encode_chunk
from workbench.ui.widgets.chart_layout import ColumnLayout
from workbench.ui.widgets.token_render import DEFAULT_PALETTE, format_probability


def server_step(index: int, with_ids: bool) -> TokenStep:
    """A step as a server that gives raw p (no q, no entropy) hands it over."""
    ids = (17, 42, 7) if with_ids else (NO_ID, NO_ID, NO_ID)
    candidates = tuple(
        Candidate(i, text, p, NOT_GIVEN)
        for i, text, p in zip(ids, ("␣Paris", "␣the", "␣a"), (0.8, 0.1, 0.05), strict=True)
    )
    return TokenStep(index, ids[0], "␣Paris", " Paris", 0.8, NOT_GIVEN, 1, NOT_GIVEN, candidates)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-6


def test_the_token_codec_keeps_missing_ids_and_values() -> None:
    steps = [server_step(0, with_ids=False), server_step(1, with_ids=True)]
    back = decode_chunks([encode_chunk(steps, {})])
    for old, new in zip(steps, back, strict=True):
        assert new.token_id == old.token_id and new.label == old.label
        assert same(new.p, old.p) and same(new.q, old.q) and same(new.entropy, old.entropy)
        for a, b in zip(old.candidates, new.candidates, strict=True):
            assert (a.token_id, a.text) == (b.token_id, b.text) and same(a.p, b.p) and same(a.q, b.q)
    assert back[0].token_id == NO_ID and not given(back[0].q) and not given(back[0].entropy)


def test_json_export_writes_null_and_reads_it_back() -> None:
    step = server_step(0, with_ids=False)
    text = json.dumps(step_to_dict(step), allow_nan=False)  # raises on a NaN: JSON has none
    data = json.loads(text)
    assert data["q"] is None and data["entropy_nats"] is None and data["candidates"][0][3] is None
    back = _step(_Check("test"), data, "tokens[0]")
    assert back.p == 0.8 and not given(back.q) and not given(back.entropy)
    assert not given(back.candidates[1].q) and back.candidates[1].p == 0.1


def test_the_chart_shows_not_given_values_as_such() -> None:
    layout = ColumnLayout.for_width(60)
    assert layout.show_id
    step = server_step(0, with_ids=False)
    top = max(c.p for c in step.candidates)
    rows = [layout.row(n + 1, c, c.text, n == 0, top).plain for n, c in enumerate(step.candidates)]
    assert all("n/a" in row and "nan" not in row.lower() for row in rows), rows
    assert all("—" in row for row in rows)  # no id, not a made-up one
    assert "█" in rows[0]  # the bar still draws the value that was given
    # only q given (a server after sampling): the bar draws q, and the header says so
    q_only = Candidate(5, "x", NOT_GIVEN, 0.6)
    assert "█" in layout.row(1, q_only, "x", False, 0.6).plain
    assert "q bar" in layout.header("q").plain
    assert format_probability(NOT_GIVEN).strip() == "n/a"
    DEFAULT_PALETTE.style(NOT_GIVEN)  # a heat-map colour for it, not a crash
