"""The tokenizer inspector: text -> chips, the chat prompt, the vocabulary, ids -> text.

Every token label, decoded string, query and file name shown here is data: it goes into
``rich.text.Text`` objects or plain segments (never markup) after ``safe_text``/``safe_line``.
Vocabulary searches and exports run in thread workers and report back with ``post_message``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Input, Select, Static, TabbedContent, TabPane, Tabs, TextArea
from textual.worker import get_current_worker

from workbench import paths
from workbench.engine.prompts import Prompt
from workbench.engine.tokens import (
    TokenSpan,
    TokenTable,
    describe_ids,
    export_vocabulary,
    parse_ids,
    search_vocab,
    tokenize,
)
from workbench.safetext import safe_line, safe_text
from workbench.ui.widgets.token_chips import TokenChips
from workbench.ui.widgets.vocab_list import VocabList

LOADING = "Loading model\u2026"
SEARCH_MODES = ("substring", "regex", "id")
LONG_TEXT = 2_000  # characters; longer input is tokenized after a short pause in typing
LONG_TEXT_DELAY = 0.25
SEARCH_DELAY = 0.1  # seconds of quiet typing before a vocabulary search starts
# Each view's tab id and the widget that takes the focus when it is shown.
VIEWS = {
    "text": ("tok-tab-text", "#tok-input"),
    "prompt": ("tok-tab-prompt", "#prompt-chips"),
    "vocab": ("tok-tab-vocab", "#vocab-query"),
    "decode": ("tok-tab-decode", "#decode-input"),
}


# One visible stand-in per control character (C0 but tab/newline, DEL, C1), one for one so
# the TextArea's columns and cursor stay where the document says they are.
_CONTROL_STAND_INS = str.maketrans(
    {c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)}
    | {0x7F: 0x2421}
    | dict.fromkeys(range(0x80, 0xA0), 0xFFFD)
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def plain_placeholder(placeholder: str | Content) -> Content:
    """A TextArea's placeholder as plain text: Textual reads a str as markup, and "[MASK]" (or a
    model named with brackets) vanished from it."""
    return Content(placeholder) if isinstance(placeholder, str) else placeholder


class SafeTextArea(TextArea):
    """A TextArea that draws control characters as visible stand-ins.

    The text itself is kept as typed or pasted (so an ESC still tokenizes as ESC); only what
    reaches the terminal changes.
    """

    def __init__(self, *args: Any, placeholder: str | Content = "", **kwargs: Any) -> None:
        super().__init__(*args, placeholder=plain_placeholder(placeholder), **kwargs)

    def validate_placeholder(self, placeholder: str | Content) -> Content:
        return plain_placeholder(placeholder)  # (set later: a reactive's validator)

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        shown = _SURROGATE.sub("\ufffd", line.plain.translate(_CONTROL_STAND_INS))
        return line if shown == line.plain else Text(shown, end="", no_wrap=True)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def default_export_path(model_name: str) -> Path:
    """``<data dir>/vocab-<model>.tsv``, the model name reduced to a safe file name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-.") or "model"
    return paths.data_dir() / f"vocab-{slug}.tsv"


class _SearchDone(Message):
    def __init__(self, serial: int, ids: list[int], error: str | None) -> None:
        super().__init__()
        self.serial, self.ids, self.error = serial, ids, error


class _ServerSplit(Message):
    def __init__(self, serial: int, spans: tuple[TokenSpan, ...], error: str | None) -> None:
        super().__init__()
        self.serial, self.spans, self.error = serial, spans, error


class _ExportDone(Message):
    def __init__(self, path: Path, count: int, error: str | None) -> None:
        super().__init__()
        self.path, self.count, self.error = path, count, error


class TokenizerPane(Vertical):
    """Tokenizer inspector tab. The app calls ``set_tokenizer`` and ``set_chat_prompt``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "toggle_specials", "Specials"),
        Binding("ctrl+g", "toggle_ids", "Ids"),
        Binding("ctrl+l", "cycle_mode", "Search mode", show=False),  # the mode is on screen
        Binding("ctrl+o", "export", "Export vocab"),
    ]

    DEFAULT_CSS = """
    TokenizerPane { height: 1fr; }
    TokenizerPane #tok-status { height: 1; padding: 0 1; color: $text-muted; }
    TokenizerPane TabbedContent { height: 1fr; }
    TokenizerPane TabPane { padding: 0; height: 1fr; }
    TokenizerPane #tok-input { height: 6; min-height: 3; border: tall $border-blurred; }
    TokenizerPane #tok-input:focus { border: tall $border; }
    TokenizerPane .tok-line { height: 1; padding: 0 1; }
    TokenizerPane .tok-row { height: 1; }
    TokenizerPane #vocab-query { width: 1fr; }
    TokenizerPane #vocab-mode { width: 16; }
    TokenizerPane #export-label { width: auto; padding: 0 1; }
    TokenizerPane #export-path { width: 1fr; }
    TokenizerPane #export-button { width: auto; min-width: 10; }
    TokenizerPane #decode-scroll { height: auto; max-height: 6; padding: 0 1; }
    TokenizerPane .-error { color: $error; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.table: TokenTable | None = None
        self.model_name = ""
        self.add_special_tokens = False
        self.chat_prompt: Prompt | None = None
        self._tokenize_timer: Timer | None = None
        self._search_timer: Timer | None = None
        self._search_serial = 0
        self._matches: list[int] | None = None  # None: the list shows the whole vocabulary
        self._export_default: str = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(LOADING), id="tok-status")
        with TabbedContent(id="tok-tabs"):
            with TabPane("Text", id="tok-tab-text"):
                yield SafeTextArea(id="tok-input", soft_wrap=True, tab_behavior="focus")
                yield Static(Text(LOADING), id="tok-counts", classes="tok-line")
                yield TokenChips(LOADING, id="tok-chips")
            with TabPane("Chat prompt", id="tok-tab-prompt"):
                yield Static(Text(LOADING), id="prompt-count", classes="tok-line")
                yield TokenChips(LOADING, id="prompt-chips")
            with TabPane("Vocabulary", id="tok-tab-vocab"):
                with Horizontal(classes="tok-row"):
                    yield Input(
                        placeholder="search token text (' good' finds \u2423good)",
                        id="vocab-query",
                        compact=True,
                    )
                    yield Select(
                        [(mode, mode) for mode in SEARCH_MODES],
                        value="substring",
                        allow_blank=False,
                        compact=True,
                        id="vocab-mode",
                    )
                yield Static(Text(LOADING), id="vocab-count", classes="tok-line")
                yield VocabList(id="vocab-list")
                yield Static("", id="vocab-detail", classes="tok-line")
                with Horizontal(classes="tok-row"):
                    yield Static("Export to", id="export-label")
                    yield Input(id="export-path", compact=True)
                    yield Button("Export all", id="export-button", compact=True)
            with TabPane("Decode ids", id="tok-tab-decode"):
                yield Input(placeholder="ids, e.g. 1, 42 9690 or [1, 42]", id="decode-input", compact=True)
                with VerticalScroll(id="decode-scroll"):
                    yield Static(Text(LOADING), id="decode-output")
                yield TokenChips(LOADING, id="decode-chips")

    # --- the app's interface -----------------------------------------------------------

    def set_tokenizer(self, table: TokenTable, model_name: str) -> None:
        """A model was loaded or replaced: re-run every view against its tokenizer."""
        self.table = table
        self.model_name = model_name
        if self.is_mounted:  # otherwise on_mount shows it
            self._show_tokenizer()

    # A server's /tokenize, when no local copy of its tokenizer exists: the Text view splits
    # through it (the vocabulary, prompt and decode views need a whole vocabulary).
    _server_split: Callable[[str, bool], list[TokenSpan]] | None = None
    _server_serial = 0

    def set_server_tokenizer(self, split: Callable[[str, bool], list[TokenSpan]] | None, name: str) -> None:
        self._server_split = split
        self.model_name = name
        if self.is_mounted and self.table is None:
            self.query_one("#tok-status", Static).update(Text(safe_line(name)))
            self._retokenize()

    @work(thread=True, exclusive=True, group="server-tokenize", exit_on_error=False)
    def _split_on_server(self, text: str, special: bool, serial: int) -> None:
        split = self._server_split
        assert split is not None
        try:
            spans = tuple(split(text, special)) if text else ()
        except Exception as exc:  # noqa: BLE001 - a network fault is shown in the view
            self.post_message(_ServerSplit(serial, (), str(exc)))
            return
        self.post_message(_ServerSplit(serial, spans, None))

    @on(_ServerSplit)
    def _server_split_done(self, message: _ServerSplit) -> None:
        if message.serial != self._server_serial or self.table is not None:
            return  # an older text's answer, or a local tokenizer came meanwhile
        counts = self.query_one("#tok-counts", Static)
        chips = self.query_one("#tok-chips", TokenChips)
        if message.error is not None:
            counts.update(Text(safe_line(f"cannot tokenize: {message.error}"), style="bold red"))
            chips.set_spans((), "")
            return
        n = len(message.spans)
        counts.update(Text(f"{_plural(n, 'token')} · split by the server's /tokenize (ctrl+t specials)"))
        chips.set_spans(message.spans, "Type or paste text above to see its tokens")

    def set_chat_prompt(self, prompt: Prompt | None) -> None:
        """The exact chat-templated prompt of the current conversation (None: no conversation)."""
        self.chat_prompt = prompt
        if self.is_mounted:
            self._show_prompt()

    def on_mount(self) -> None:
        if self.table is not None:
            self._show_tokenizer()

    def _show_tokenizer(self) -> None:
        table = self.table
        assert table is not None
        status = Text(safe_line(self.model_name) or "model")
        status.append(f" \u00b7 vocabulary {table.size:,} tokens", style="dim")
        self.query_one("#tok-status", Static).update(status)
        export = self.query_one("#export-path", Input)
        if not export.value or export.value == self._export_default:
            self._export_default = str(default_export_path(self.model_name))
            export.value = self._export_default
        self._retokenize()
        self._show_prompt()
        self._start_search()
        self._decode()

    def show_view(self, view: str) -> None:
        """Show one view ('text', 'prompt', 'vocab' or 'decode') and focus its main widget."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
        tab, widget = VIEWS[view]
        self.query_one("#tok-tabs", TabbedContent).active = tab
        self.query_one(widget).focus()

    @on(TabbedContent.TabActivated, "#tok-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Switched from code while a widget in the old view had the focus: that widget is
        # hidden now, so hand the focus to the new view (a focused hidden widget would
        # switch the tab straight back).
        focused = self.screen.focused
        if focused is None or isinstance(focused, Tabs) or event.pane in focused.ancestors:
            return
        if self in focused.ancestors:
            for tab, widget in VIEWS.values():
                if tab == event.pane.id:
                    self.query_one(widget).focus()

    # --- actions -----------------------------------------------------------------------

    def action_toggle_specials(self) -> None:
        self.add_special_tokens = not self.add_special_tokens
        self._retokenize()

    def action_toggle_ids(self) -> None:
        for chips in self.query(TokenChips):
            chips.show_ids = not chips.show_ids

    def action_cycle_mode(self) -> None:
        select = self.query_one("#vocab-mode", Select)
        current = select.value if select.value in SEARCH_MODES else SEARCH_MODES[0]
        select.value = SEARCH_MODES[(SEARCH_MODES.index(current) + 1) % len(SEARCH_MODES)]

    def action_export(self) -> None:
        table = self.table
        if table is None:
            self.notify("No model is loaded yet", severity="error", markup=False)
            return
        raw = self.query_one("#export-path", Input).value.strip()
        if not raw:
            self.notify("Type a file path to export the vocabulary to", severity="error", markup=False)
            return
        ids = list(self._matches) if self._matches is not None else None
        self._export(table, Path(raw).expanduser(), ids)

    # --- text -> tokens ----------------------------------------------------------------

    @on(TextArea.Changed, "#tok-input")
    def _input_changed(self, event: TextArea.Changed) -> None:
        if self._tokenize_timer is not None:
            self._tokenize_timer.stop()
            self._tokenize_timer = None
        if len(event.text_area.text) > LONG_TEXT:
            self._tokenize_timer = self.set_timer(LONG_TEXT_DELAY, self._retokenize)
        else:
            self._retokenize()

    def _retokenize(self) -> None:
        counts = self.query_one("#tok-counts", Static)
        chips = self.query_one("#tok-chips", TokenChips)
        if self.table is None and self._server_split is not None:
            self._server_serial += 1
            counts.update(Text("asking the server…", style="dim"))
            self._split_on_server(
                self.query_one("#tok-input", TextArea).text, self.add_special_tokens, self._server_serial
            )
            return
        if self.table is None:
            counts.update(Text(LOADING))
            chips.set_spans((), LOADING)
            return
        text = self.query_one("#tok-input", TextArea).text
        try:
            result = tokenize(self.table, text, add_special_tokens=self.add_special_tokens)
        except Exception as exc:  # a tokenizer error is shown, not raised into the UI
            counts.update(Text(safe_line(f"cannot tokenize: {exc}"), style="bold red"))
            chips.set_spans((), "")
            return
        n = len(result.spans)
        line = Text(f"{_plural(n, 'token')} \u00b7 {_plural(len(text), 'character')}")
        if n:
            line.append(f" \u00b7 {result.chars_per_token:.2f} chars/token")
        line.append(f" \u00b7 specials {'on' if self.add_special_tokens else 'off'} (ctrl+t)", style="dim")
        if self.add_special_tokens and text:
            # many chat models' tokenizers add nothing to plain text (SmolLM2's has no BOS):
            # say so, or the switch seems to do nothing
            added = n - len(tokenize(self.table, text, add_special_tokens=False).spans)
            note = f": +{_plural(added, 'special token')}" if added > 0 else ": this tokenizer adds none"
            line.append(note, style="dim")
        counts.update(line)
        chips.set_spans(result.spans, "Type or paste text above to see its tokens")

    # --- the chat prompt ---------------------------------------------------------------

    def _show_prompt(self) -> None:
        count = self.query_one("#prompt-count", Static)
        chips = self.query_one("#prompt-chips", TokenChips)
        prompt = self.chat_prompt
        if self.table is None:
            count.update(Text(LOADING))
            chips.set_spans((), LOADING)
            return
        if prompt is None:
            count.update(Text("No conversation yet: the prompt appears here once you chat"))
            chips.set_spans((), "")
            return
        try:
            spans = describe_ids(self.table, prompt.ids)
        except ValueError as exc:  # a prompt made with another tokenizer
            count.update(Text(safe_line(str(exc)), style="bold red"))
            chips.set_spans((), "")
            return
        line = Text(_plural(len(spans), "token"))
        line.append(" \u00b7 chat template" if prompt.templated else " \u00b7 no chat template")
        if prompt.notice:
            line.append(f" \u00b7 {safe_line(prompt.notice)}", style="yellow")
        count.update(line)
        chips.set_spans(spans)

    # --- the vocabulary ----------------------------------------------------------------

    @on(Input.Changed, "#vocab-query, #decode-input, #export-path")
    def _clean_input(self, event: Input.Changed) -> None:
        # Input draws its value as it is: a pasted ESC would reach the terminal. Token texts
        # hold the same visible stand-ins, so a search for '\u241b' still finds the ESC token.
        clean = safe_line(event.value)
        if clean != event.value:
            event.input.value = clean

    @on(Input.Changed, "#vocab-query")
    @on(Select.Changed, "#vocab-mode")
    def _query_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._start_search)

    @on(Input.Submitted, "#vocab-query")
    def _query_submitted(self) -> None:
        self.query_one("#vocab-list", VocabList).focus()

    def _start_search(self) -> None:
        self._search_timer = None
        self._search_serial += 1
        vocab = self.query_one("#vocab-list", VocabList)
        count = self.query_one("#vocab-count", Static)
        table = self.table
        if table is None:
            count.update(Text(LOADING))
            return
        query = self.query_one("#vocab-query", Input).value
        mode = str(self.query_one("#vocab-mode", Select).value)
        if not query.strip() if mode == "id" else not query:
            self.workers.cancel_group(self, "vocab-search")
            self._set_matches(None)
            count.remove_class("-error")
            vocab.set_rows(table, range(table.size))
            count.update(Text(f"whole vocabulary: {table.size:,} tokens"))
            return
        count.remove_class("-error")
        count.update(Text("searching\u2026", style="dim"))
        self._search(table, query, mode, self._search_serial)

    @work(thread=True, exclusive=True, group="vocab-search", exit_on_error=False)
    def _search(self, table: TokenTable, query: str, mode: str, serial: int) -> None:
        worker = get_current_worker()
        ids: list[int] = []
        try:
            for token_id in search_vocab(table, query, mode):
                ids.append(token_id)
                if not len(ids) % 4096 and worker.is_cancelled:
                    return
        except ValueError as exc:  # a bad regex or id: said inline
            self.post_message(_SearchDone(serial, [], str(exc)))
            return
        except Exception as exc:  # anything else is said too, not left at "searching…"
            self.post_message(_SearchDone(serial, [], f"search failed: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(_SearchDone(serial, ids, None))

    @on(_SearchDone)
    def _search_done(self, message: _SearchDone) -> None:
        if message.serial != self._search_serial or self.table is None:
            return  # a newer query (or model) replaced this one
        count = self.query_one("#vocab-count", Static)
        vocab = self.query_one("#vocab-list", VocabList)
        if message.error is not None:
            self._set_matches(None)
            vocab.set_rows(self.table, [])
            count.update(Text(safe_line(message.error)))
            count.add_class("-error")
            return
        count.remove_class("-error")
        self._set_matches(message.ids)
        vocab.set_rows(self.table, message.ids)
        count.update(Text(_match_count(len(message.ids))))

    def _set_matches(self, ids: list[int] | None) -> None:
        self._matches = ids
        button = self.query_one("#export-button", Button)
        button.label = "Export all" if ids is None else f"Export {len(ids):,}"

    @on(VocabList.CursorMoved, "#vocab-list")
    def _vocab_cursor(self, message: VocabList.CursorMoved) -> None:
        detail = self.query_one("#vocab-detail", Static)
        if self.table is None or message.token_id is None:
            detail.update("")
            return
        try:
            info = self.table.info(message.token_id)
        except ValueError:
            detail.update("")
            return
        line = Text(f"{info.token_id} ", style="bold")
        line.append("piece ", style="dim")
        line.append(safe_line(info.piece))
        if info.raw is not None:
            line.append("  bytes ", style="dim")
            line.append(info.raw.hex(" ") or "(none)")
        line.append(f"  {info.kind}", style="dim")
        detail.update(line)

    # --- export ------------------------------------------------------------------------

    @on(Button.Pressed, "#export-button")
    def _export_pressed(self) -> None:
        self.action_export()

    @on(Input.Submitted, "#export-path")
    def _export_submitted(self) -> None:
        self.action_export()

    @work(thread=True, exclusive=True, group="vocab-export", exit_on_error=False)
    def _export(self, table: TokenTable, path: Path, ids: Sequence[int] | None) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            count = export_vocabulary(table, path, ids)
        except Exception as exc:  # OSError mostly; whatever it is, the user is told
            self.post_message(_ExportDone(path, 0, str(exc)))
            return
        self.post_message(_ExportDone(path, count, None))

    @on(_ExportDone)
    def _export_done(self, message: _ExportDone) -> None:
        where = safe_line(str(message.path))
        if message.error is not None:
            self.notify(f"Export failed: {safe_line(message.error)}", severity="error", markup=False)
        else:
            self.notify(f"Exported {_plural(message.count, 'token')} to {where}", markup=False)

    # --- ids -> text -------------------------------------------------------------------

    @on(Input.Changed, "#decode-input")
    def _decode(self) -> None:
        output = self.query_one("#decode-output", Static)
        chips = self.query_one("#decode-chips", TokenChips)
        output.remove_class("-error")
        if self.table is None:
            output.update(Text(LOADING))
            chips.set_spans((), LOADING)
            return
        raw = self.query_one("#decode-input", Input).value
        try:
            ids = parse_ids(raw)
            spans = describe_ids(self.table, ids)
            decoded = self.table.tokenizer.decode(ids) if ids else ""
        except ValueError as exc:
            output.update(Text(safe_line(str(exc))))
            output.add_class("-error")
            chips.set_spans((), "")
            return
        if not ids:
            output.update(Text("Type token ids to decode them", style="dim"))
            chips.set_spans((), "")
            return
        output.update(Text(safe_text(decoded)))
        chips.set_spans(spans)


def _match_count(count: int) -> str:
    return f"{count:,} match" if count == 1 else f"{count:,} matches"
