"""Put a long reply into a Markdown widget a few paragraphs at a time.

``Markdown.update`` mounts every block of the document in one go, and mounting is the costly
part: Textual applies the stylesheet to each block and to each of its four component classes
(em, strong, s, code_inline). For a 2,000-token reply that was one 40-70 ms stretch of the UI
thread (bench/ui.py), over the 50 ms the UI may stall. Appending the document in parts of about
:data:`PART_CHARS` characters mounts a few blocks per step, with frames and keys in between.

``Markdown.append`` parses again from the start of the last block it holds and updates that
block from the new parse. Parts therefore end only after a top-level paragraph (found by
parsing the whole text once, off the UI thread): a paragraph parses the same again and is
updated in place to itself, so the blocks are those of ``update(text)``. (A table or a list
would be rebuilt differently by that update.)
"""

from __future__ import annotations

import asyncio
from itertools import accumulate

from markdown_it import MarkdownIt
from textual.await_complete import AwaitComplete
from textual.widgets import Markdown

PART_CHARS = 1200  # about a screen of text: a few blocks, a few ms to mount


def paragraph_ends(text: str) -> list[int]:
    """The line numbers just after each top-level paragraph of ``text`` (parsed as Textual's
    Markdown widget parses by default)."""
    tokens = MarkdownIt("gfm-like").parse(text)
    return [t.map[1] for t in tokens if t.type == "paragraph_open" and t.level == 0 and t.map]


def split_parts(text: str, ends: list[int], size: int = PART_CHARS) -> list[str]:
    """``text`` cut at some of the line numbers ``ends`` into parts of at least ``size``
    characters (the last may be shorter); joined, they are ``text`` again."""
    lines = text.splitlines(keepends=True)
    offsets = [0, *accumulate(len(line) for line in lines)]
    parts: list[str] = []
    start = 0
    for end in ends:
        if end < len(lines) and offsets[end] - offsets[start] >= size:
            parts.append(text[offsets[start] : offsets[end]])
            start = end
    parts.append(text[offsets[start] :])
    return parts


def update_in_parts(markdown: Markdown, text: str, size: int = PART_CHARS) -> AwaitComplete:
    """Replace the document with ``text``, mounting it part by part; await it to know it is in."""

    async def run() -> None:
        ends = await asyncio.to_thread(paragraph_ends, text)
        await markdown.update("")  # removes the old blocks; appending starts from an empty document
        for part in split_parts(text, ends, size):
            await markdown.append(part)

    return AwaitComplete(run())
