"""Pilot tests for the tokenizer inspector pane, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static, TabbedContent, TextArea

from tests.models import smol_tokenizer
from workbench.engine.prompts import NO_TEMPLATE_NOTICE, Prompt, chat_prompt
from workbench.engine.tokens import TokenTable
from workbench.ui.panes.tokenizer import LOADING, TokenizerPane
from workbench.ui.widgets.token_chips import TokenChips
from workbench.ui.widgets.vocab_list import VocabList

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
HOSTILE = "[bold]x[/] [link=x]y \x1b[2J \x1b]52;c;SGk=\x07 a\rb"


class PaneApp(App):
    def compose(self) -> ComposeResult:
        yield TokenizerPane(id="tokenizer")


async def wait_until(pilot: Pilot, predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.05)


def text_of(app: App, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def chips(app: App, selector: str = "#tok-chips") -> TokenChips:
    return app.query_one(selector, TokenChips)


@pytest.fixture(scope="module")
def table() -> TokenTable:
    return TokenTable(smol_tokenizer())


async def loaded(pilot: Pilot, table: TokenTable, tab: str | None = None) -> TokenizerPane:
    pane = pilot.app.query_one(TokenizerPane)
    pane.set_tokenizer(table, MODEL)
    if tab:
        pilot.app.query_one(TabbedContent).active = tab
    await pilot.pause()
    return pane


async def type_text(pilot: Pilot, text: str) -> None:
    pilot.app.query_one("#tok-input", TextArea).focus()
    await pilot.press(*text)


def test_ui_modules_import_no_torch() -> None:
    code = (
        "import sys, workbench.ui.panes.tokenizer\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# --- text -> tokens --------------------------------------------------------------------


async def test_placeholder_before_model_then_tokenizes_typed_text(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert LOADING in text_of(app, "#tok-status")
        assert LOADING in text_of(app, "#tok-counts")
        await type_text(pilot, "good morning")  # typing before the model is there is harmless
        assert LOADING in text_of(app, "#tok-counts")
        assert chips(app).plain_lines() == [LOADING]
        await loaded(pilot, table)
        await wait_until(pilot, lambda: [s.token_id for s in chips(app).spans] == [12018, 5738])
        assert "vocabulary 49,152 tokens" in text_of(app, "#tok-status")


async def test_live_tokenization_ids_and_counts(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table)
        await type_text(pilot, "good morning")
        await wait_until(pilot, lambda: [s.token_id for s in chips(app).spans] == [12018, 5738])
        counts = text_of(app, "#tok-counts")
        assert "2 tokens" in counts and "12 characters" in counts and "6.00 chars/token" in counts
        label_line, id_line = chips(app).plain_lines()
        assert label_line.split() == ["good", "\u2423morning"]
        assert id_line.split() == ["12018", "5738"]

        app.query_one("#tok-input", TextArea).text = "i am good"
        await wait_until(pilot, lambda: chips(app).spans and chips(app).spans[-1].token_id == 1123)
        assert chips(app).spans[-1].label == "\u2423good"
        assert "3 tokens" in text_of(app, "#tok-counts")

        await pilot.press("ctrl+g")  # ids off: one line of chips
        await wait_until(pilot, lambda: not chips(app).show_ids)
        assert chips(app).plain_lines() == ["i \u2423am \u2423good"]


async def test_special_tokens_toggle() -> None:
    tokenizer = copy.deepcopy(smol_tokenizer())
    tokenizer.add_bos_token = True  # SmolLM2 adds nothing by default; make the switch visible
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, TokenTable(tokenizer))
        await type_text(pilot, "i am good")
        await wait_until(pilot, lambda: [s.token_id for s in chips(app).spans] == [89, 744, 1123])
        assert "specials off" in text_of(app, "#tok-counts")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: [s.token_id for s in chips(app).spans] == [1, 89, 744, 1123])
        assert chips(app).spans[0].kind == "special"
        assert "specials on (ctrl+t): +1 special token" in text_of(app, "#tok-counts")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: len(chips(app).spans) == 3)


async def test_special_tokens_on_says_when_the_tokenizer_adds_none(table: TokenTable) -> None:
    """SmolLM2's tokenizer adds no special tokens to plain text: Ctrl+T must say so, not seem dead."""
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table)
        await type_text(pilot, "i am good")
        await wait_until(pilot, lambda: [s.token_id for s in chips(app).spans] == [89, 744, 1123])
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: "specials on" in text_of(app, "#tok-counts"))
        assert [s.token_id for s in chips(app).spans] == [89, 744, 1123]
        assert "this tokenizer adds none" in text_of(app, "#tok-counts")


async def test_byte_pieces_and_long_text(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table)
        app.query_one("#tok-input", TextArea).text = "日本語 🤗"
        await wait_until(pilot, lambda: any(s.kind == "bytes" for s in chips(app).spans))
        assert "<0xE6><0x97>" in chips(app).plain_lines()[0]
        # Long pastes are tokenized after a short pause, and scroll as a virtual list.
        app.query_one("#tok-input", TextArea).text = "good morning\n" * 2000
        await wait_until(pilot, lambda: len(chips(app).spans) == 6000)
        assert "6,000 tokens" in text_of(app, "#tok-counts")
        assert chips(app).virtual_size.height > 100


async def test_set_before_mount(table: TokenTable) -> None:
    pane = TokenizerPane(id="tokenizer")
    pane.set_tokenizer(table, MODEL)  # the app may load the model before the tab is mounted
    pane.set_chat_prompt(Prompt((1, 4093, 198), "<|im_start|>user\n", templated=True))

    class Early(App):
        def compose(self) -> ComposeResult:
            yield pane

    app = Early()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "49,152" in text_of(app, "#tok-status"))
        assert "3 tokens" in text_of(app, "#prompt-count")
        assert app.query_one("#vocab-list", VocabList).row_count == 49152


# --- the chat prompt -------------------------------------------------------------------


async def test_chat_prompt_view(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await loaded(pilot, table, "tok-tab-prompt")
        assert "No conversation yet" in text_of(app, "#prompt-count")
        prompt = chat_prompt(table.tokenizer, [{"role": "user", "content": "hi [bold]x[/]"}])
        pane.set_chat_prompt(prompt)
        await pilot.pause()
        assert f"{len(prompt.ids)} tokens" in text_of(app, "#prompt-count")
        assert "chat template" in text_of(app, "#prompt-count")
        prompt_chips = chips(app, "#prompt-chips")
        assert [s.token_id for s in prompt_chips.spans] == list(prompt.ids)
        assert prompt_chips.spans[0].kind == "special"
        assert "[bold]" not in "".join(prompt_chips.plain_lines())  # split into tokens
        pane.set_chat_prompt(
            Prompt((9690, 42, 6004), "System: hi", templated=False, notice=NO_TEMPLATE_NOTICE)
        )
        await pilot.pause()
        count = text_of(app, "#prompt-count")
        assert "3 tokens" in count and "no chat template" in count and "plain" in count
        pane.set_chat_prompt(None)
        await pilot.pause()
        assert "No conversation yet" in text_of(app, "#prompt-count")


# --- the vocabulary --------------------------------------------------------------------


async def test_vocab_search_modes_and_bad_queries(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table, "tok-tab-vocab")
        vocab = app.query_one("#vocab-list", VocabList)
        assert "49,152 tokens" in text_of(app, "#vocab-count")
        assert vocab.row_count == 49152

        app.query_one("#vocab-query", Input).focus()
        await pilot.press(*"good")
        await wait_until(pilot, lambda: text_of(app, "#vocab-count") == "11 matches")
        assert 1123 in vocab.ids and 12018 in vocab.ids
        assert "\u2423good" in vocab.row_text(0)

        await pilot.press("ctrl+l")  # substring -> regex
        assert app.query_one("#vocab-mode", Select).value == "regex"
        await pilot.press("backspace", *"$")  # "goo$"
        expected = [i for i, text in enumerate(table.texts()) if re.search("goo$", text)]
        await wait_until(pilot, lambda: list(vocab.ids) == expected)
        assert text_of(app, "#vocab-count") == f"{len(expected)} matches"

        app.query_one("#vocab-query", Input).value = "(unclosed"
        await wait_until(pilot, lambda: "not a valid regular expression" in text_of(app, "#vocab-count"))
        assert app.query_one("#vocab-count").has_class("-error")
        assert vocab.row_count == 0

        await pilot.press("ctrl+l")  # regex -> id
        app.query_one("#vocab-query", Input).value = "100-120"
        await wait_until(pilot, lambda: text_of(app, "#vocab-count") == "21 matches")
        assert list(vocab.ids) == list(range(100, 121))
        app.query_one("#vocab-query", Input).value = "abc"
        await wait_until(pilot, lambda: "not an id" in text_of(app, "#vocab-count"))

        app.query_one("#vocab-query", Input).value = ""
        await wait_until(pilot, lambda: vocab.row_count == 49152)


async def test_vocab_list_keyboard_reaches_the_last_entry(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table, "tok-tab-vocab")
        vocab = app.query_one("#vocab-list", VocabList)
        vocab.focus()
        await wait_until(pilot, lambda: vocab.size.height > 0)

        def row_on_screen(token_id: int) -> str:
            y = list(vocab.ids).index(token_id) - int(vocab.scroll_offset.y)
            assert 0 <= y < vocab.size.height, "row is not on screen"
            return vocab.render_line(y).text

        await pilot.press("end")
        await wait_until(pilot, lambda: vocab.cursor_id == 49151 and vocab.scroll_offset.y > 0)
        assert row_on_screen(49151).split() == ["49151", "ectable", "text"]
        assert "49151" in text_of(app, "#vocab-detail")
        await pilot.press("up")
        await wait_until(pilot, lambda: vocab.cursor_id == 49150)
        assert row_on_screen(49150).split() == ["49150", "\u2423Mama", "text"]
        await pilot.press("home")
        await wait_until(pilot, lambda: vocab.cursor_id == 0 and vocab.scroll_offset.y == 0)
        assert row_on_screen(0).split() == ["0", "<|endoftext|>", "special"]
        await pilot.press("pagedown", "down")
        await wait_until(pilot, lambda: vocab.cursor == vocab.size.height)
        assert row_on_screen(vocab.cursor_id).startswith(f"{vocab.cursor_id:>5}")
        top = int(vocab.scroll_offset.y)
        await pilot.click("#vocab-list", offset=(3, 2))  # the mouse works too
        await wait_until(pilot, lambda: vocab.cursor == top + 2)


async def test_export_vocabulary_and_matches(table: TokenTable, workbench_home: Path) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table, "tok-tab-vocab")
        path_input = app.query_one("#export-path", Input)
        default = Path(path_input.value)
        assert default.parent == workbench_home / "data" and default.name.startswith("vocab-")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: any(str(default) in str(n.message) for n in app._notifications))
        lines = default.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 49153 and lines[0] == "id\ttoken\tkind"

        app.query_one("#vocab-query", Input).value = "good"
        await wait_until(pilot, lambda: text_of(app, "#vocab-count") == "11 matches")
        assert str(app.query_one("#export-button", Button).label) == "Export 11"
        target = workbench_home / "nested" / "good.tsv"
        path_input.value = str(target)
        path_input.focus()
        await pilot.press("enter")
        await wait_until(pilot, target.exists)
        assert len(target.read_text(encoding="utf-8").splitlines()) == 12

        path_input.value = str(workbench_home)  # a directory: the error is reported, not raised
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: any(n.severity == "error" for n in app._notifications))


# --- ids -> text -----------------------------------------------------------------------


async def test_decode_ids(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, table, "tok-tab-decode")
        app.query_one("#decode-input", Input).focus()
        await pilot.press(*"[1, 42 9690]")
        await wait_until(pilot, lambda: text_of(app, "#decode-output") == "<|im_start|>:system")
        assert [s.token_id for s in chips(app, "#decode-chips").spans] == [1, 42, 9690]
        app.query_one("#decode-input", Input).value = "1, x"
        await wait_until(pilot, lambda: "'x' is not a token id" in text_of(app, "#decode-output"))
        assert app.query_one("#decode-output").has_class("-error")
        app.query_one("#decode-input", Input).value = "99999"
        await wait_until(pilot, lambda: "outside the vocabulary" in text_of(app, "#decode-output"))


# --- untrusted text --------------------------------------------------------------------


async def test_untrusted_text_renders_literally(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await loaded(pilot, table)
        pane.set_tokenizer(table, "[bold]evil[/] \x1b]0;title\x07")
        app.query_one("#tok-input", TextArea).text = HOSTILE
        await wait_until(pilot, lambda: len(chips(app).spans) > 10)
        shown = "".join(chips(app).plain_lines())
        assert "\u241b" in shown and "\u2407" in shown and "\u240d" in shown  # ␛ ␇ ␍
        assert "link" in shown and "bold" in shown
        assert "[bold]evil[/]" in text_of(app, "#tok-status")
        screen = app.export_screenshot()
        assert "\x1b" not in screen and "\x07" not in screen and "\r" not in screen

        # The model's bytes for ESC [ 2 J, BEL and CR decode to visible stand-ins.
        app.query_one(TabbedContent).active = "tok-tab-decode"
        app.query_one("#decode-input", Input).value = "212, 75, 34, 58, 195, 26410"
        await wait_until(pilot, lambda: text_of(app, "#decode-output").startswith("\u241b[2J"))
        assert text_of(app, "#decode-output") == "\u241b[2J\u2407 \u240d"
        app.query_one("#decode-input", Input).value = "111, 112, 23274"  # lone UTF-8 bytes
        await wait_until(pilot, lambda: "\ufffd" in text_of(app, "#decode-output"))
        assert [s.kind for s in chips(app, "#decode-chips").spans] == ["bytes"] * 3
        app.query_one("#decode-input", Input).value = "1\x1b[2J"  # a pasted ESC is shown, not sent
        await wait_until(pilot, lambda: app.query_one("#decode-input", Input).value == "1\u241b[2J")
        assert "\x1b" not in app.export_screenshot()

        pane.set_chat_prompt(Prompt((75, 30471, 77), "[bold]", templated=False, notice="[red]x\x1b[2J"))
        app.query_one(TabbedContent).active = "tok-tab-prompt"
        await pilot.pause()
        assert "[red]x\u241b[2J" in text_of(app, "#prompt-count")
        screen = app.export_screenshot()
        assert "\x1b" not in screen
        assert chips(app, "#prompt-chips").plain_lines()[0].split() == ["[", "bold", "]"]


# --- a large terminal ------------------------------------------------------------------


async def test_large_terminal_layout(table: TokenTable) -> None:
    app = PaneApp()
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot, table)
        await type_text(pilot, "good morning")
        await wait_until(pilot, lambda: len(chips(app).spans) == 2)
        app.query_one(TabbedContent).active = "tok-tab-vocab"
        vocab = app.query_one("#vocab-list", VocabList)
        await wait_until(pilot, lambda: vocab.size.height > 30)
        assert vocab.size.width == 200
        assert vocab.render_line(vocab.size.height - 1).text.split()[0] == str(vocab.size.height - 1)
