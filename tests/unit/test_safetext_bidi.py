"""Bidi controls in untrusted text would reorder what the terminal shows (a title that reads
backwards, a file name hiding its real extension): they are shown as visible stand-ins."""

from __future__ import annotations

import pytest

from workbench.safetext import safe_line, safe_text

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
BIDI += ["\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("control", BIDI)
@pytest.mark.parametrize("function", [safe_text, safe_line])
def test_each_bidi_control_becomes_a_visible_stand_in(function, control):
    shown = function(f"report{control}fdp.exe")
    assert control not in shown
    assert f"U+{ord(control):04X}" in shown
    assert shown.startswith("report") and shown.endswith("fdp.exe")


@pytest.mark.parametrize("function", [safe_text, safe_line])
def test_right_to_left_letters_and_ordinary_text_are_unchanged(function):
    text = "שלום עולם مرحبا بالعالم Hello, 世界 café 👋🏽 e\u0301"
    assert function(text) == text


def test_a_title_with_an_override_cannot_reverse_what_follows():
    shown = safe_line("invoice \u202eexe.pdf\u202c")
    assert shown == "invoice <U+202E>exe.pdf<U+202C>"
