"""Where sibling replies part (workbench/branches.py), on real conversation trees."""

from __future__ import annotations

from workbench.branches import compare, fork_index, fork_note, forks, match_offset, token_at
from workbench.conversation import Conversation
from workbench.engine.steps import Candidate, TokenStep


def steps(ids: list[int], texts: list[str] | None = None) -> list[TokenStep]:
    texts = texts or [f"t{i}" for i in ids]
    return [
        TokenStep(n, token_id, text, text, 0.5, 0.5, 1, 1.0, (Candidate(token_id, text, 0.5, 0.5),))
        for n, (token_id, text) in enumerate(zip(ids, texts, strict=True))
    ]


def test_fork_index_is_the_first_differing_token() -> None:
    assert fork_index(steps([1, 2, 3, 4]), steps([1, 2, 9, 4])) == 2
    assert fork_index(steps([1, 2, 3]), steps([7, 2, 3])) == 0
    assert fork_index(steps([1, 2, 3]), steps([1, 2, 3])) is None
    assert fork_index(steps([1, 2]), steps([1, 2, 3])) == 2  # the longer one goes on


def test_forks_name_each_sibling_at_its_own_token() -> None:
    conversation = Conversation()
    user = conversation.add("user", "hi")
    a = conversation.add("assistant", "", parent=user.id, steps=steps([1, 2, 3, 4, 5]))
    b = conversation.add("assistant", "", parent=user.id, steps=steps([1, 2, 8, 9]))
    c = conversation.add("assistant", "", parent=user.id, steps=steps([1, 2, 3, 4, 6]))
    assert forks(conversation, a.id) == {2: [2], 4: [3]}
    assert forks(conversation, b.id) == {2: [1, 3]}
    assert fork_note(forks(conversation, b.id)[2], 3) == "fork: branches 1/3, 3/3"
    assert fork_note([2], 3) == "fork: branch 2/3"
    comparison = compare(a, b)
    assert comparison.fork == 2
    assert [s.token_id for s in comparison.prefix] == [1, 2]
    assert [s.token_id for s in comparison.continuation(b)] == [8, 9]
    assert comparison.fork_step(c) is c.steps[2]


def test_a_search_word_maps_to_the_token_holding_it() -> None:
    reply = steps([1, 2, 3, 4], ["The", " light", "house", " stands"])
    text = "".join(s.text for s in reply)
    offset = match_offset(text, "lighthouse stands")
    assert offset == 4 and token_at(reply, offset) == 1
    assert match_offset(text, "STAND") == text.index("stands")
    assert match_offset(text, "ouse") is None  # words match from their start, as the search does
    assert match_offset(text, "!!") is None
