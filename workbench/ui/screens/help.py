"""F1: a short guide to what the screen shows (p, q, step mode, branches, the heat map), then
the keys of each place with the names printed on the keyboard.

Written by hand rather than dumped from the bindings: a binding's key name
("left_square_bracket") and its scroll keys say little; tests/ui/test_key_guide.py checks that
every key the app binds with a description is still named here.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

GUIDE: list[tuple[str, str]] = [
    (
        "p and q",
        "p is the model's probability for a token: softmax of its logits, before any sampling "
        "setting. q is the sampling probability: the same logits after repetition penalty, "
        "temperature, top-k, top-p and min-p, renormalised; the next token is drawn from q, and "
        "q is 0 for a token those settings cut. The chart's bars show p, scaled to the top "
        "candidate.",
    ),
    (
        "Step mode (F7)",
        "Each token waits for you, and the chart shows its candidates: Space samples one from q, "
        "g takes the most likely, 1-9 picks that candidate, t types any token (text or #id). "
        "p plays the reply a token at a time (+ and - change the speed) and pauses it again. "
        "A setting changed while a token waits re-weights that token.",
    ),
    (
        "Branches",
        "Tab from the message box puts a cursor on the reply's tokens (← →). There, 1-9 continues "
        "the reply from that token with candidate 1-9 instead: a new branch. [ and ] switch "
        "between the branches of a reply, keeping the cursor at the token where they part (the "
        "header says 'fork at token N'); c compares two of them side by side from that token. "
        "e edits the message a reply answers, Ctrl+R asks again; the header says which branch of "
        "how many you see.",
    ),
    (
        "Text as written",
        "Replies show exactly the text the model wrote, token by token, while streaming, finished "
        "and resumed: `* The` stays `* The`. m shows finished replies as Markdown instead. F8 "
        "switches to completion mode: the prompt and its continuations as one running text.",
    ),
    (
        "Logit lens (l)",
        "On a reply's token (or a scored text's), l shows what each layer would predict were it the "
        "last: its hidden state through the model's final norm and lm_head, then softmax. Rows are "
        "layers (the model's output, its p, at the top; the embeddings at the bottom), columns the "
        "top candidates, and one column the p each layer gives the token finally chosen.",
    ),
    (
        "Score (F11)",
        "Paste a text and press Ctrl+L: each token is coloured by its p given the tokens before it, "
        "with the perplexity and the most surprising tokens (their surprisal in bits, -log2 p). A "
        "text longer than the window is scored window by window, each token once. Ctrl+P, 'Score "
        "this chat' scores the selected reply with its whole prompt, chat template and all.",
    ),
    (
        "Heat map (F6)",
        "Colours each token of a reply by its p: the legend at the top of the conversation says which "
        "colour is which. Low p marks where the model was unsure, or where sampling took an "
        "unlikely token.",
    ),
]

KEYS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "Everywhere",
        "",
        [
            ("F1", "this guide"),
            ("F2 F3 F4", "chat, tokenizer, settings tabs"),
            ("F9 F10", "classify, fill tabs (for classifiers and masked models)"),
            ("F11", "score tab: each token of a text coloured by its p, the perplexity"),
            ("F12", "diff tab: the model against a model B (e.g. itself in bfloat16), KL per token"),
            ("F5", "sessions: open, search, rename, delete saved chats"),
            ("F6", "heat map on/off"),
            ("F7", "step mode on/off"),
            ("F8", "chat or text completion (no chat template)"),
            ("Esc", "stop the reply"),
            ("Ctrl+R", "regenerate the selected (or last) reply"),
            ("Ctrl+N", "new chat"),
            ("Ctrl+Y", "copy the selected (or last) reply"),
            ("Ctrl+P", "command palette: every action by name"),
            ("Ctrl+Q", "quit"),
        ],
    ),
    (
        "Message box",
        "",
        [
            ("Enter", "send"),
            ("Ctrl+J", "new line (also Shift+Enter, Alt+Enter where the terminal tells them apart)"),
            ("↑", "in an empty box: edit your last message"),
            ("Tab", "to the reply's tokens (to the chart while a token waits)"),
            ("End", "in an empty box: back to the end of the conversation"),
        ],
    ),
    (
        "Conversation",
        "after Tab from the message box",
        [
            ("← →", "previous, next token: the chart shows its candidates"),
            ("↑ ↓", "previous, next reply"),
            ("Home End", "first, last token"),
            ("1-9", "branch: continue with candidate 1-9 at this token"),
            ("[ ]", "previous, next branch (the cursor stays where they part)"),
            ("c", "compare this reply with a sibling branch from their fork"),
            ("l", "logit lens of this token: each layer's top candidates"),
            ("e", "edit the message this reply answers"),
            ("v", "mark a token; ← → then select a range"),
            ("y", "copy the marked tokens, else the reply"),
            ("Y", "copy the code block under the cursor, else the reply's last"),
            ("m", "Markdown view of finished replies on/off (← → show the tokens again)"),
            ("s", "show the system prompt"),
            ("mouse", "click a token to put the cursor on it; hover one to see its candidates"),
        ],
    ),
    (
        "Chart in step mode",
        "while a token waits",
        [
            ("Space", "sample from q"),
            ("g", "greedy: the most likely token"),
            ("1-9", "pick that candidate"),
            ("t", "type a token (text or #id)"),
            ("p", "play / pause"),
            ("+ -", "faster, slower"),
        ],
    ),
    (
        "Tokenizer (F3)",
        "",
        [
            ("Ctrl+T", "show special tokens"),
            ("Ctrl+G", "show token ids"),
            ("Ctrl+L", "search mode of the vocabulary list"),
            ("Ctrl+O", "export the vocabulary"),
        ],
    ),
    (
        "Settings (F4)",
        "a valid value applies as you type it",
        [
            ("Tab Shift+Tab", "next, previous field"),
            ("Enter", "next field; in Model source and Device: load the model"),
        ],
    ),
    (
        "Sessions (F5)",
        "",
        [
            ("/", "search messages and titles"),
            ("Enter", "open"),
            ("r", "rename"),
            ("d", "duplicate"),
            ("Delete", "delete (also x)"),
        ],
    ),
    ("Classify (F9), Fill (F10)", "", [("Ctrl+L", "run")]),
    (
        "Score (F11)",
        "",
        [
            ("Ctrl+L", "score the text"),
            ("← →", "previous, next token (Home End: first, last)"),
            ("l", "logit lens of the token under the cursor"),
            ("Esc", "stop scoring a long text"),
        ],
    ),
    (
        "Logit lens",
        "l on a token",
        [
            ("[ ]", "previous, next token of the same text"),
            ("← → ↑ ↓", "move over the grid: the line below says the cell's token and p"),
            ("Esc q l", "close"),
        ],
    ),
    (
        "Diff (F12)",
        "",
        [
            ("Ctrl+L", "compare the text"),
            ("Ctrl+O", "compare the chat's last reply (its tokens, after its prompt)"),
            ("←/→", "the token whose top-k is shown"),
        ],
    ),
]


def guide() -> Group:
    """The whole guide as one renderable (the screen scrolls it)."""
    parts: list[Text | Table] = [Text("A short guide (Esc closes)", style="bold")]
    for title, body in GUIDE:
        parts.append(Text.assemble("\n", (title, "bold underline"), "\n", body))
    parts.append(Text("\nKeys", style="bold"))
    for title, note, rows in KEYS:
        table = Table(show_header=False, box=None, padding=(0, 1), expand=True)
        table.add_column("key", style="bold", no_wrap=True, width=14)
        table.add_column("what", ratio=1)
        heading = Text.assemble("\n", (title, "bold underline"), ("  " + note if note else "", "dim"))
        parts.append(heading)
        for key, what in rows:
            table.add_row(Text(key), Text(what))
        parts.append(table)
    return Group(*parts)


def guide_text(width: int = 100) -> str:
    """The guide as plain text, as it wraps at ``width`` columns."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(guide())
    return console.export_text()


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(guide(), id="help-table")
