"""Token text as Rich ``Text``: heat map by probability, a highlighted cursor, visible kinds.

All token text arriving here is untrusted: it goes through ``safe_text`` and into ``Text``
objects (never into markup strings).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color

from workbench.engine.steps import TokenStep
from workbench.safetext import safe_text

_LOW = Color.parse("#b3261e")
_MID = Color.parse("#b38f00")
_HIGH = Color.parse("#1e7b34")

KIND_STYLES = {"special": Style(color="magenta", bold=True), "bytes": Style(color="yellow"), "text": Style()}


def probability_color(p: float) -> Color:
    """Red for unlikely tokens, through amber, to green for near-certain ones."""
    p = max(0.0, min(1.0, p))
    if p < 0.5:
        return _LOW.blend(_MID, p / 0.5)
    return _MID.blend(_HIGH, (p - 0.5) / 0.5)


def heat_style(p: float) -> Style:
    color = probability_color(p)
    return Style(bgcolor=color.rich_color, color="white" if color.brightness < 0.6 else "black")


def render_steps(
    steps: Sequence[TokenStep],
    heatmap: bool = False,
    cursor: int | None = None,
    show_hidden: bool = False,
) -> Text:
    """The reply as text, one span per token.

    ``show_hidden`` (token-cursor mode) gives tokens with no text of their own (a byte that
    starts a character, the end-of-turn token) a visible stand-in so the cursor can rest on
    them.
    """
    text = Text()
    for index, step in enumerate(steps):
        piece = safe_text(step.text)
        style = Style()
        if not piece and (show_hidden or index == cursor):
            piece = "▫" if not step.is_end else f"⟨{step.label}⟩"
            style += Style(dim=True)
        if heatmap:
            style += heat_style(step.p)
        if index == cursor:
            style += Style(reverse=True, bold=True, underline=True)
        text.append(piece, style)
    return text


def format_probability(p: float) -> str:
    """Six characters: '75.4%', ' 0.3%', '2e-05'."""
    if p >= 0.0995:
        return f"{p * 100:5.1f}%"
    if p >= 0.000995:
        return f"{p * 100:5.2f}%"
    if p == 0:
        return "    0 "
    return f"{p:6.0e}"
