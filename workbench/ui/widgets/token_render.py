"""Token text as Rich ``Text``: heat map by probability, a highlighted cursor, visible kinds.

All token text arriving here is untrusted: it goes through ``safe_text`` and into ``Text``
objects (never into markup strings).

The heat map takes its colours from the theme (error -> warning -> success for unlikely ->
likely) and writes each token in whichever colour reads best on its cell: the theme's own
background or foreground when that meets WCAG's 4.5:1 for text, else black or white (one of
the two always reaches 4.58:1). Text colours are truecolor, never ANSI names, whose real
colour is the terminal's choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.color import Color

from workbench.engine.steps import TokenStep
from workbench.safetext import safe_text

# Used when a theme leaves a colour out (and by code that has no app at hand).
_DEFAULTS = {
    "error": "#b3261e",
    "warning": "#b38f00",
    "success": "#1e7b34",
    "background": "#14161b",
    "foreground": "#d6dbe3",
}
MIN_TEXT_CONTRAST = 4.5  # WCAG 2 AA for normal text
LEGEND_STOPS = (0.0, 0.25, 0.5, 0.75, 1.0)

FORK_STYLE = Style(underline=True, bold=True)  # where sibling branches part (a style: offsets stay)
KIND_STYLES = {"special": Style(color="magenta", bold=True), "bytes": Style(color="yellow"), "text": Style()}


def relative_luminance(color: Color) -> float:
    """WCAG 2 relative luminance of an opaque colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast_ratio(a: Color, b: Color) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class HeatPalette:
    """The heat map's colours for one theme."""

    low: Color
    mid: Color
    high: Color
    text_choices: tuple[Color, ...]  # tried in order; the first that reaches 4.5:1 wins

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> HeatPalette:
        """From a theme's CSS variables (``app.get_css_variables()``)."""

        def colour(name: str) -> Color:
            try:
                return Color.parse(variables.get(name) or _DEFAULTS[name])
            except Exception:  # a variable that is not a plain colour
                return Color.parse(_DEFAULTS[name])

        return cls(
            low=colour("error"),
            mid=colour("warning"),
            high=colour("success"),
            text_choices=(colour("background"), colour("foreground")),
        )

    def background(self, p: float) -> Color:
        """Red for unlikely tokens, through amber, to green for near-certain ones."""
        p = max(0.0, min(1.0, p))
        if p < 0.5:
            return self.low.blend(self.mid, p / 0.5)
        return self.mid.blend(self.high, (p - 0.5) / 0.5)

    def text(self, background: Color) -> Color:
        """The theme colour that reads on ``background`` (4.5:1), else black or white."""
        best = max(self.text_choices, key=lambda c: contrast_ratio(c, background))
        if contrast_ratio(best, background) >= MIN_TEXT_CONTRAST:
            return best
        black, white = Color(0, 0, 0), Color(255, 255, 255)
        return max((black, white), key=lambda c: contrast_ratio(c, background))

    def colors(self, p: float) -> tuple[Color, Color]:
        """(text, background) for a token of probability ``p`` (NaN, not given: the middle)."""
        bg = self.background(0.5 if math.isnan(p) else p)
        return self.text(bg), bg

    def style(self, p: float) -> Style:
        fg, bg = self.colors(p)
        return Style(color=fg.rich_color, bgcolor=bg.rich_color)

    def legend(self) -> Text:
        """What the colours mean: a swatch per probability, written in the heat map's own colours."""
        text = Text("Heat map, p of each token: ", Style(dim=True))
        for p in LEGEND_STOPS:
            text.append(f"{p * 100:.0f}%".center(6), self.style(p))
            text.append(" ")
        return text


DEFAULT_PALETTE = HeatPalette.from_variables(_DEFAULTS)


def heat_style(p: float, palette: HeatPalette = DEFAULT_PALETTE) -> Style:
    return palette.style(p)


def render_steps(
    steps: Sequence[TokenStep],
    heatmap: bool = False,
    cursor: int | None = None,
    show_hidden: bool = False,
    palette: HeatPalette = DEFAULT_PALETTE,
    marks: frozenset[int] = frozenset(),
    mark: int | None = None,
    turn_id: int | None = None,
) -> Text:
    """The reply as text, one span per token; tokens in ``marks`` (forks) are underlined.

    With a ``mark`` (and a ``cursor``), the tokens from one to the other are shown selected.

    ``show_hidden`` (token-cursor mode) gives tokens with no text of their own (a byte that
    starts a character, the end-of-turn token) a visible stand-in so the cursor can rest on
    them. With ``turn_id`` each span carries ``{"turn": turn_id, "token": index}`` as style
    meta: Textual hands it to mouse events (``event.style.meta``), so a click or a hover
    finds its token.
    """
    text = Text()
    marked = range(-1) if mark is None or cursor is None else range(min(mark, cursor), max(mark, cursor) + 1)
    for index, step in enumerate(steps):
        piece = safe_text(step.text)
        style = Style() if turn_id is None else Style(meta={"turn": turn_id, "token": index})
        if not piece and (show_hidden or index == cursor):
            piece = "▫" if not step.is_end else f"⟨{step.label}⟩"
            if not heatmap:  # dimmed text on a heat colour would fall below 4.5:1
                style += Style(dim=True)
        if heatmap:
            style += palette.style(step.p)
        if index in marks:
            style += FORK_STYLE
        if index == cursor:
            style += Style(reverse=True, bold=True, underline=True)
        elif index in marked:
            style += Style(reverse=True)
        text.append(piece, style)
    return text


def format_probability(p: float) -> str:
    """One format in six cells: a percentage, one decimal from 10%, two below, then '<0.01%'.

    '100.0%', ' 45.3%', ' 8.91%', ' 0.51%', ' 0.05%', '<0.01%', '    0%'.
    """
    if math.isnan(p):  # not given by the backend (a server gives p or q, not both)
        return "n/a".rjust(6)
    percent = p * 100
    if percent >= 9.995:
        shown = f"{percent:.1f}%"
    elif percent >= 0.005:
        shown = f"{percent:.2f}%"
    elif p > 0:
        shown = "<0.01%"
    else:
        shown = "0%"
    return shown.rjust(6)
