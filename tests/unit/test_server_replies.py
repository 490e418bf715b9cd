"""Server replies: a control token a server sends with no text is shown and ends a stepped
reply; a stepped token's record carries the server's numbers and nothing invented."""

from __future__ import annotations

import math

from workbench.backends.server import logprobs as lp
from workbench.backends.server.replies import ServerReplies, ServerStep
from workbench.backends.server.semantics import semantics_for
from workbench.backends.server.stepping import ServerDistribution
from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import NOT_GIVEN, Candidate


def test_a_token_with_no_text_is_a_visible_control_token() -> None:
    end = lp.Entry(token="", token_id=2, raw=b"", prob=0.61)
    assert end.kind == "special" and end.label() == lp.EMPTY_LABEL
    word = lp.Entry(token=" Paris", token_id=7042, raw=b" Paris", prob=0.3)
    assert word.kind == "text" and word.label() == "␣Paris"


def _dist() -> ServerDistribution:
    semantics = semantics_for("llamacpp")
    cands = (
        Candidate(2, lp.EMPTY_LABEL, 0.61, NOT_GIVEN, "special"),
        Candidate(7042, "␣Paris", 0.30, NOT_GIVEN),
        Candidate(11, ",", 0.05, NOT_GIVEN),
    )
    return ServerDistribution(cands, cands[1], semantics)


def test_a_stepped_choice_keeps_the_servers_numbers_and_ends_on_a_control_token() -> None:
    replies = ServerReplies.__new__(ServerReplies)  # _step needs no connection for listed tokens
    dist = _dist()
    picked = replies._step(4, dist, 7042, "user")
    assert (picked.p, picked.rank, picked.is_end) == (0.30, 2, False)
    assert math.isnan(picked.q) and math.isnan(picked.entropy)
    ended = replies._step(5, dist, 2, "greedy")
    assert ended.is_end and ended.kind == "special"


def test_the_chooser_view_of_a_server_step() -> None:
    view = ServerStep(_dist(), SamplingSettings(do_sample=True, seed=3))
    assert view.greedy_token() == 2  # the top by the value given
    assert view.sample_token() == (7042, "sample")  # the server's own draw
    assert view.reweighted(SamplingSettings(do_sample=False)).settings.greedy
