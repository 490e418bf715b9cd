"""The app's own entries in the command palette (Ctrl+P): every action, by name, with its key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.ui.app import WorkbenchApp

Command = tuple[str, str, Callable[[], object]]


def palette_commands(app: WorkbenchApp) -> list[Command]:
    return [
        ("Stop generating", "Stop the reply being generated (Esc)", app.action_stop),
        (
            "Regenerate reply",
            "A new reply to the last message; the old one stays as a branch (Ctrl+R)",
            app.action_regenerate,
        ),
        (
            "Edit last message",
            "Edit and resend your last message (Up in the empty message box)",
            app.action_edit_last,
        ),
        ("New chat", "Start a new conversation (Ctrl+N)", app.action_new_chat),
        ("Copy reply", "Copy the selected or last reply to the clipboard (Ctrl+Y)", app.action_copy),
        (
            "Copy code block",
            "The code block under the token cursor, else the reply's last one (Y in the conversation)",
            app.conversation_view.action_copy_code_block,
        ),
        ("Toggle heat map", "Colour reply tokens by probability (F6)", app.action_toggle_heatmap),
        (
            "Toggle Markdown view",
            "Finished replies as Markdown, or exactly as the model wrote them (m in the chat)",
            lambda: app.conversation_view.action_toggle_markdown(),
        ),
        (
            "Toggle step mode",
            "Pause before every token and choose it yourself (F7)",
            app.action_toggle_step_mode,
        ),
        (
            "Toggle chat / completion mode",
            "Chat template, or raw text continuation (F8)",
            app.action_toggle_completion_mode,
        ),
        ("Step: sample the next token", "While paused (space on the chart)", app.action_step_sample),
        ("Step: take the most probable token", "While paused (g on the chart)", app.action_step_greedy),
        (
            "Step: type the next token",
            "By its text or #id, while paused (t on the chart)",
            app.action_step_token,
        ),
        ("Play / pause", "Let a paused reply run, or pause it (p on the chart)", app.action_play_pause),
        (
            "Previous branch",
            "Show the previous alternative of the selected reply ([)",
            lambda: app.action_sibling(-1),
        ),
        (
            "Next branch",
            "Show the next alternative of the selected reply (])",
            lambda: app.action_sibling(1),
        ),
        (
            "Compare branches",
            "The selected reply beside a sibling branch, from the token where they part (c)",
            app.action_compare_branches,
        ),
        (
            "Edit selected message",
            "Edit the message the selected reply answers: a new branch (e)",
            app.action_edit_selected,
        ),
        ("Show chat", "The conversation and the live chart (F2)", lambda: app.action_show_tab("chat")),
        (
            "Show tokenizer",
            "Tokenizer inspector and vocabulary (F3)",
            lambda: app.action_show_tab("tokenizer"),
        ),
        (
            "Show settings",
            "Model, device, dtype, sampling, theme (F4)",
            lambda: app.action_show_tab("settings"),
        ),
        (
            "Sessions",
            "Saved conversations: open, search, rename, duplicate, delete (F5)",
            app.action_sessions,
        ),
        (
            "Tokenizer: special tokens on/off",
            "Add the tokenizer's special tokens (Ctrl+T in the tokenizer tab)",
            lambda: app._tokenizer_action("toggle_specials"),
        ),
        (
            "Tokenizer: ids on/off",
            "Show token ids under the chips (Ctrl+G in the tokenizer tab)",
            lambda: app._tokenizer_action("toggle_ids"),
        ),
        (
            "Tokenizer: export the vocabulary",
            "Write the vocabulary or the matches to a file (Ctrl+O in the tokenizer tab)",
            lambda: app._tokenizer_action("export"),
        ),
        ("Help", "All keys (F1)", app.action_help),
        ("Show classify", "Label probabilities for a text (F9)", lambda: app.action_show_tab("classify")),
        (
            "Show fill",
            "Fill-mask: the top-k tokens for each [MASK] (F10)",
            lambda: app.action_show_tab("fill"),
        ),
        (
            "Show score",
            "Score a text: each token's p, rank and surprisal, the perplexity (F11)",
            lambda: app.action_show_tab("score"),
        ),
        (
            "Score this chat",
            "The selected (or last) reply and its whole prompt, token by token, in the Score tab",
            app.action_score_chat,
        ),
        (
            "Show diff",
            "Model against model: KL(A‖B) per token, e.g. float32 against bfloat16 (F12)",
            lambda: app.action_show_tab("diff"),
        ),
    ]
