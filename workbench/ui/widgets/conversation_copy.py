"""Copying part of a reply from the conversation: a code block, or a range of tokens.

Keys, in the conversation (Tab from the message box puts a cursor on a reply's tokens), as in
lazygit and helix:
- ``v`` marks the token under the cursor; moving the cursor (←/→) then selects every token
  between the mark and the cursor; ``v`` again drops the mark;
- ``y`` copies the selection (and drops the mark), or without a mark the whole reply;
- ``Y`` copies the code block the cursor is in, else the reply's last code block.
Ctrl+Y copies the whole reply from anywhere. Copying goes through Textual's
``App.copy_to_clipboard`` (OSC 52: it works over SSH).

The text functions are pure; :class:`CopyActions` is a mixin of ``ConversationView``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.engine.steps import TokenStep

if TYPE_CHECKING:
    from workbench.conversation import Turn

COPIED_TOAST_S = 2.5
# CommonMark's fences: up to three spaces, then three or more backticks or tildes, an info string.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True, slots=True)
class CodeBlock:
    start: int  # character offsets in the reply's text: the opening fence line's start...
    end: int  # ...and the end of the closing fence line (or of the text, if never closed)
    language: str
    code: str  # the lines between the fences

    @property
    def lines(self) -> int:
        return len(self.code.splitlines())


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of a Markdown text, in order. An unclosed fence runs to the end
    (a reply cut off by max tokens or Esc), as Markdown renders it."""
    blocks: list[CodeBlock] = []
    offset = 0
    opening: tuple[int, str, str, int] | None = None  # start offset, fence, language, code start
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        match = _FENCE.match(stripped)
        if opening is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                opening = (offset, match.group(1), match.group(2).strip().split(" ")[0], offset + len(line))
        elif (
            match
            and match.group(1)[0] == opening[1][0]
            and len(match.group(1)) >= len(opening[1])
            and not match.group(2).strip()
        ):
            start, _, language, code_start = opening
            blocks.append(CodeBlock(start, offset + len(line), language, text[code_start:offset]))
            opening = None
        offset += len(line)
    if opening is not None:
        start, _, language, code_start = opening
        blocks.append(CodeBlock(start, len(text), language, text[code_start:]))
    return blocks


def token_offset(steps: Sequence[TokenStep], index: int) -> int:
    """Where token ``index``'s text starts in the reply's text."""
    return sum(len(step.text) for step in steps[:index])


def block_for(text: str, steps: Sequence[TokenStep], cursor: int | None) -> CodeBlock | None:
    """The code block holding token ``cursor``, else the last one; None when there is none."""
    blocks = code_blocks(text)
    if not blocks:
        return None
    if cursor is not None:
        at = token_offset(steps, cursor)
        for block in blocks:
            if block.start <= at < block.end:
                return block
    return blocks[-1]


def range_text(steps: Sequence[TokenStep], first: int, last: int) -> str:
    """The text of tokens ``first`` to ``last``, both included, in either order."""
    first, last = sorted((first, last))
    return "".join(step.text for step in steps[first : last + 1])


class CopyActions:
    """The copy keys of the conversation (see the module docstring). Uses ConversationView's
    ``_selected`` (the MessageView with the cursor) and ``selected``."""

    if TYPE_CHECKING:  # what ConversationView provides
        _selected: Any  # the MessageView holding the cursor, or None
        app: Any

        @property
        def selected(self) -> tuple[Turn | None, TokenStep | None]: ...

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.app.notify(f"Copied {what} ({len(text)} characters).", timeout=COPIED_TOAST_S)

    def action_toggle_mark(self) -> None:
        """v: mark the token under the cursor (the start of a selection), or drop the mark."""
        view = self._selected
        if view is None or view.cursor is None:
            return
        view.mark = None if view.mark is not None else view.cursor
        view.refresh_body()
        if view.mark is not None:
            self.app.notify(
                "Mark set: ←/→ select, y copies, v drops it.",
                timeout=COPIED_TOAST_S,
            )

    def action_copy_selection(self) -> None:
        """y: the marked range of tokens, else the whole reply under the cursor."""
        view = self._selected
        if view is None or view.cursor is None or view.mark is None:
            self.app.action_copy()  # the reply under the cursor, as Ctrl+Y
            return
        first, last = sorted((view.mark, view.cursor))
        text = range_text(view.turn.steps, first, last)
        view.mark = None
        view.refresh_body()
        self._copy(text, f"tokens {first + 1}-{last + 1}")

    def action_copy_code_block(self) -> None:
        """Y: the code block the cursor is in, else the last code block of the reply."""
        turn, step = self.selected
        app = self.app
        if turn is None:
            turn = app.conversation.last("assistant")
        if turn is None:
            app.notify("There is no reply to copy from yet.", severity="warning")
            return
        block = block_for(turn.content, turn.steps, step.index if step is not None else None)
        if block is None:
            app.notify("This reply has no code block (``` fences).", severity="warning")
            return
        kind = f"{block.language} " if block.language else ""
        self._copy(block.code, f"the {kind}code block, {block.lines} lines")
