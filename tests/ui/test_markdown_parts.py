"""A finished long reply becomes Markdown a few paragraphs at a time (the UI thread is never
busy mounting a whole document at once), and the blocks are those of one ``Markdown.update``."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Markdown

from workbench.conversation import Turn
from workbench.ui.widgets.markdown_parts import PART_CHARS, paragraph_ends, split_parts, update_in_parts
from workbench.ui.widgets.message_view import MessageView

PARAGRAPH = "The dragon opened the book and read the first line aloud, slowly, word by word. " * 3
# paragraphs, a list, a code fence with blank lines in it, a heading, a quote and a table
DOCUMENT = "\n\n".join(
    [PARAGRAPH] * 8
    + ["- one\n- two\n\n- three, after a blank line\n- four"]
    + [PARAGRAPH] * 6
    + ["```python\nx = 1\n\n\ny = 2\n```", "## A heading", "> a quote\n> on two lines"]
    + [PARAGRAPH] * 6
    + ["| a | b |\n|---|---|\n| 1 | 2 |", PARAGRAPH]
)


def test_parts_join_to_the_text_and_end_after_paragraphs() -> None:
    parts = split_parts(DOCUMENT, paragraph_ends(DOCUMENT))
    assert "".join(parts) == DOCUMENT
    assert len(parts) >= 4
    assert all(part.endswith(". \n") and len(part) >= PART_CHARS for part in parts[:-1])
    assert split_parts("short", paragraph_ends("short")) == ["short"]
    assert split_parts("x" * 5000, paragraph_ends("x" * 5000)) == ["x" * 5000]  # one paragraph: one part
    assert split_parts("a\n\nb\n\nc", paragraph_ends("a\n\nb\n\nc"), 1) == ["a\n", "\nb\n", "\nc"]
    # never after a list, a fence or a table: those are rebuilt differently when appended to
    listed = "- one\n- two\n\n- three\n\nafter"
    assert split_parts(listed, paragraph_ends(listed), 1) == [listed]


def _blocks(markdown: Markdown) -> list[tuple[str, str]]:
    """Each block (nested ones too) by class and the text it shows."""

    def walk(widget: Widget) -> list[tuple[str, str]]:
        out = []
        for child in widget.children:
            content = getattr(child, "_content", None)
            out.append((type(child).__name__, str(content) if content is not None else ""))
            out.extend(walk(child))
        return out

    return walk(markdown)


class TwoMarkdowns(App[None]):
    def compose(self) -> ComposeResult:
        yield Markdown(id="whole")
        yield Markdown(id="parts")


@pytest.mark.parametrize("size", [PART_CHARS, 1])  # 1: a part after every paragraph
async def test_in_parts_gives_the_blocks_of_one_update(size: int) -> None:
    app = TwoMarkdowns()
    async with app.run_test(size=(100, 40)) as pilot:
        whole = app.query_one("#whole", Markdown)
        parts = app.query_one("#parts", Markdown)
        await whole.update(DOCUMENT)
        await parts.update("# old document\n\nreplaced")
        await update_in_parts(parts, DOCUMENT, size)
        await pilot.pause()
        assert parts.source == DOCUMENT
        assert _blocks(parts) == _blocks(whole)
        assert len(_blocks(whole)) > 20


class OneReply(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="box")


async def test_a_finished_long_reply_is_mounted_a_few_blocks_at_a_time(monkeypatch) -> None:
    """Mounting is the costly part (styles applied to each block): one mount of the whole
    reply's blocks held the UI thread 40-70 ms for a 2,000-token reply (bench/ui.py)."""
    mounted: list[int] = []
    mount_all = Markdown.mount_all

    def counting(self, widgets, *args, **kwargs):  # type: ignore[no-untyped-def]
        widgets = list(widgets)
        mounted.append(len(widgets))
        return mount_all(self, widgets, *args, **kwargs)

    monkeypatch.setattr(Markdown, "mount_all", counting)
    app = OneReply()
    async with app.run_test(size=(100, 40)) as pilot:
        turn = Turn(2, "assistant", DOCUMENT, parent=1, status="complete")
        view = MessageView(turn, markdown=True)  # the Markdown view (m) is on
        await app.query_one("#box").mount(view)
        view.refresh_body()  # as the app does after mounting a turn
        markdown = view.query_one(".message-markdown", Markdown)
        for _ in range(200):
            if view._markdown_state == "ready":
                break
            await pilot.pause(0.02)
        assert view._markdown_state == "ready" and markdown.display
        assert markdown.source == DOCUMENT
        assert sum(mounted) >= len(markdown.children) > 20
        assert max(mounted) <= 8, mounted
