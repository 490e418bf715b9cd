"""Make untrusted text (model output, token strings, file names) safe to put on a terminal.

Rich markup is handled by building ``Text``/``Content`` objects; this module deals with what
markup escaping cannot: control characters. A raw ESC in model output would otherwise reach
the terminal (OSC 52 writes the clipboard, OSC 0 retitles the window, CSI 2J clears it).
"""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, and the C1 block (U+0080-U+009F, which some terminals
# treat as 8-bit CSI/OSC introducers).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi controls (embeddings/overrides U+202A-U+202E, isolates U+2066-U+2069, the LRM/RLM/ALM
# marks) reorder the text around them on screen: "invoice \u202eexe.pdf" reads "invoice fdp.exe".
# Right-to-left letters carry their own direction and need none of these, so they stay as they are.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# Lone surrogates (from broken UTF-8 decoded with surrogateescape) cannot be encoded at all.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400 block: ␀ ␁ … ␛ …
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<0x{code:02X}>"


def _code_point(match: re.Match[str]) -> str:
    return f"<U+{ord(match.group()):04X}>"


def safe_text(text: str) -> str:
    """Replace control characters (keeping newline and tab) with visible stand-ins.

    ``\\r`` becomes ``␍`` so that a carriage return cannot overwrite what came before it;
    ESC becomes ``␛`` so no escape sequence can reach the terminal; a bidi control such as
    U+202E becomes ``<U+202E>`` so it cannot reverse what follows it.
    """
    text = _SURROGATE.sub("\ufffd", text)
    text = _BIDI.sub(_code_point, text)
    return _CONTROL.sub(_control_picture, text)


def safe_line(text: str) -> str:
    """Like :func:`safe_text`, for one-line places (titles, table cells): newlines shown too."""
    return safe_text(text).replace("\n", "\u21b5").replace("\t", "\u21e5")
