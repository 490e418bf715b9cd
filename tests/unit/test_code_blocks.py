"""Finding a reply's code blocks and token ranges for copying (ui/widgets/conversation_copy.py)."""

from __future__ import annotations

from workbench.engine.steps import TokenStep
from workbench.ui.widgets.conversation_copy import block_for, code_blocks, range_text, token_offset

REPLY = "Intro:\n```py\nx = 1\n```\nAnd:\n~~~\nls -la\n~~~~\nNot a fence: ```inline``` here.\n"


def steps_of(pieces: list[str]) -> list[TokenStep]:
    return [TokenStep(i, i, p, p, 0.5, 0.5, 1, 0.1, ()) for i, p in enumerate(pieces)]


def test_fenced_blocks_with_language_and_longer_closing_fences():
    blocks = code_blocks(REPLY)
    assert [(b.language, b.code) for b in blocks] == [("py", "x = 1\n"), ("", "ls -la\n")]
    assert REPLY[blocks[0].start : blocks[0].end] == "```py\nx = 1\n```\n"
    assert REPLY[blocks[1].start : blocks[1].end] == "~~~\nls -la\n~~~~\n"
    assert blocks[0].lines == 1


def test_a_fence_only_closes_with_its_own_character_and_an_unclosed_one_runs_to_the_end():
    text = "````md\n```\nnested\n```\n````\n~~~\nstill open\n```\nto the end"
    blocks = code_blocks(text)
    assert [b.code for b in blocks] == ["```\nnested\n```\n", "still open\n```\nto the end"]
    assert blocks[1].end == len(text)
    assert code_blocks("no code here, only `inline` and ``` inline ```") == []


def test_the_block_under_a_token_else_the_last_and_token_ranges():
    pieces = ["Intro", ":\n", "```", "py\n", "x", " =", " 1", "\n```\n", "Done."]
    steps = steps_of(pieces)
    text = "".join(pieces)
    assert token_offset(steps, 4) == text.index("x")
    assert block_for(text, steps, 4).code == "x = 1\n"  # the cursor on "x"
    assert block_for(text, steps, 0).code == "x = 1\n"  # outside any block: the last one
    assert block_for("plain", steps_of(["plain"]), 0) is None
    assert range_text(steps, 6, 4) == "x = 1"  # either order, both ends included
