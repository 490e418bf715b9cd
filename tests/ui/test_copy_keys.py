"""Copying from the conversation: y (the reply, or the marked tokens), v (mark), Y and the
palette's "Copy code block". What reached the clipboard is read from ``App.clipboard``."""

from __future__ import annotations

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, start_with_model, wait_until
from workbench.engine.decoding import Decoder, Generation
from workbench.engine.sampling import Sampler
from workbench.ui.app import WorkbenchApp
from workbench.ui.palette import palette_commands

REPLY = "Intro:\n```py\nx = 1\n```\nAnd:\n~~~\nls -la\n~~~\nEnd."


def forced_reply(text: str) -> Generation:
    """The tiny model's reply made of ``text``'s tokens, each picked as a user picks one in step
    mode: real distributions, a known text."""
    loaded = tiny_loaded()
    script = iter(loaded.tokenizer.encode(text, add_special_tokens=False))
    prompt = loaded.tokenizer("Show me code").input_ids

    def chooser(dist):  # type: ignore[no-untyped-def]
        token = next(script, None)
        return None if token is None else (token, "user")

    generation = Generation(Decoder(loaded, prompt), Sampler(), chooser=chooser)
    list(generation)
    assert generation.text == text
    return generation


def show_reply(app: WorkbenchApp, generation: Generation):  # type: ignore[no-untyped-def]
    user = app.conversation.add("user", "Show me code")
    reply = app.conversation.add("assistant", generation.text, steps=list(generation.steps))
    reply.stats = {"tokens": len(generation.steps)}
    assert user.id == reply.parent
    app._show_conversation()
    return reply


def index_of(reply, piece: str) -> int:  # type: ignore[no-untyped-def]
    return next(s.index for s in reply.steps if s.text == piece)


async def test_copy_keys_in_the_conversation():
    app = WorkbenchApp(greedy_config(), autoload=False)
    generation = forced_reply(REPLY)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        reply = show_reply(app, generation)
        await pilot.pause()
        app.conversation_view.focus()  # the cursor lands on the reply's last token ("End.")
        await wait_until(pilot, lambda: app.conversation_view.selected[0] is reply)

        await pilot.press("y")  # no mark: the whole reply
        assert app.clipboard == REPLY
        await pilot.press("Y")  # the cursor is in no code block: the last one
        assert app.clipboard == "ls -la\n"

        view = app.conversation_view.view_for(reply.id)
        x = index_of(reply, "x")
        app.conversation_view.select_turn(reply.id, x)
        await pilot.pause()
        await pilot.press("Y")  # the block the cursor is in
        assert app.clipboard == "x = 1\n"

        await pilot.press("v")  # mark "x", select to "1", copy the range
        assert view.mark == x
        await pilot.press("right", "right", "right")
        shown = view.query_one(".message-body").render()
        selected = "".join(
            shown.plain[span.start : span.end] for span in shown.spans if span.style and span.style.reverse
        )
        assert selected == "x = 1"  # the marked range is drawn selected
        await pilot.press("y")
        assert app.clipboard == "x = 1"
        assert view.mark is None  # copied: the mark is dropped

        await pilot.press("v", "left", "v")  # v again drops the mark: y copies the reply
        assert view.mark is None
        await pilot.press("y")
        assert app.clipboard == REPLY


async def test_palette_copy_code_block_without_a_cursor_takes_the_last_reply():
    app = WorkbenchApp(greedy_config(), autoload=False)
    generation = forced_reply(REPLY)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        commands = {title: callback for title, _, callback in palette_commands(app)}
        commands["Copy code block"]()
        assert app.clipboard == ""  # no reply yet: a warning, nothing copied
        show_reply(app, generation)
        await pilot.pause()
        commands["Copy code block"]()
        assert app.clipboard == "ls -la\n"


def test_f1_tells_y_from_shift_y():
    from workbench.ui.keys import key_name
    from workbench.ui.screens.help import guide_text

    assert (key_name("y"), key_name("Y"), key_name("ctrl+y"), key_name("f1")) == ("y", "Y", "Ctrl+Y", "F1")
    lines = guide_text(100).splitlines()
    assert any(line.strip().startswith("y ") and "copy the marked" in line for line in lines)
    assert any(line.strip().startswith("Y ") and "code block" in line for line in lines)
