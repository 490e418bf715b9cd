"""Which keys matter where: the key bar's hints for each place, and human names for keys.

Pure data, no widgets: the key bar (widgets/key_bar.py) picks the hints of the focused place,
the F1 guide (screens/help.py) lists the same places with longer descriptions.
A place is a name: "message", "conversation", "chart", "chart-paused", "settings",
"tokenizer", "classify", "fill", "score".
"""

from __future__ import annotations

Hint = tuple[str, str]  # (key as shown, what it does in a word or two)

HELP_HINT: Hint = ("F1", "help")
"""Always shown, last: everything else is one key away."""

HINTS: dict[str, list[Hint]] = {
    "message": [
        ("Enter", "send"),
        ("Ctrl+J", "newline"),
        ("Tab", "tokens"),
        ("F5", "sessions"),
        ("F7", "step mode"),
        ("↑", "edit last"),
        ("F8", "chat/text"),
    ],
    "conversation": [
        ("←/→", "token"),
        ("1-9", "branch"),
        ("[ ]", "branches"),
        ("c", "compare"),
        ("y", "copy"),
        ("e", "edit"),
        ("l", "lens"),  # (from 88 columns; F1 names it everywhere)
        ("F6", "heat map"),
    ],
    # A token waits in step mode: the chart holds the keys that choose it.
    "chart-paused": [
        ("Space", "sample"),
        ("g", "greedy"),
        ("1-9", "pick"),
        ("t", "type"),
        ("p", "play"),
        ("+/-", "speed"),
    ],
    "chart": [
        ("F7", "step mode"),
        ("p", "play/pause"),
        ("+/-", "speed"),
        ("F6", "heat map"),
    ],
    "settings": [
        ("Tab", "next field"),
        ("Enter", "next/load"),
        ("F2", "chat"),
        ("F5", "sessions"),
    ],
    "tokenizer": [
        ("Ctrl+T", "specials"),
        ("Ctrl+G", "ids"),
        ("Ctrl+L", "search mode"),
        ("Ctrl+O", "export"),
    ],
    "classify": [("Ctrl+L", "classify"), ("F2", "chat")],
    "fill": [("Ctrl+L", "fill"), ("F2", "chat")],
    "diff": [("Ctrl+L", "diff"), ("Ctrl+O", "chat reply"), ("←/→", "token"), ("F2", "chat")],
    "score": [("Ctrl+L", "score"), ("←/→", "token"), ("l", "lens"), ("Esc", "stop"), ("F2", "chat")],
}

GENERATING_HINT: Hint = ("Esc", "stop")
"""Put first while a reply is being generated, wherever the focus is."""

SEPARATOR = "  "


def hint_width(hint: Hint) -> int:
    return len(hint[0]) + 1 + len(hint[1])


def hints_for(place: str, width: int, generating: bool = False) -> list[Hint]:
    """The place's hints that fit in ``width`` cells, in order of importance, F1 help last."""
    wanted = list(HINTS.get(place, []))
    if generating and place != "chart-paused":
        wanted.insert(0, GENERATING_HINT)
    shown: list[Hint] = []
    used = hint_width(HELP_HINT)
    for hint in wanted:
        extra = hint_width(hint) + len(SEPARATOR)
        if used + extra > width:
            break  # in order of importance: a later, smaller hint does not jump the queue
        shown.append(hint)
        used += extra
    return [*shown, HELP_HINT]


KEY_NAMES = {
    "escape": "Esc",
    "enter": "Enter",
    "space": "Space",
    "tab": "Tab",
    "left": "←",
    "right": "→",
    "up": "↑",
    "down": "↓",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "delete": "Delete",
    "home": "Home",
    "end": "End",
    "pageup": "PgUp",
    "pagedown": "PgDn",
}


def key_name(keys: str) -> str:
    """A binding's keys as a person writes them: 'ctrl+r' -> 'Ctrl+R', 'left_square_bracket'
    -> '[', 'escape,f1' -> 'Esc, F1'."""

    def one(part: str, modified: bool) -> str:
        if part in KEY_NAMES:
            return KEY_NAMES[part]
        if len(part) == 1:
            return part.upper() if modified else part  # Ctrl+R, but plain e stays e
        return part.upper() if len(part) <= 3 else part.capitalize()

    def combo(key: str) -> str:
        parts = key.strip().split("+")
        return "+".join(one(part, len(parts) > 1) for part in parts)

    return ", ".join(combo(key) for key in keys.split(","))
