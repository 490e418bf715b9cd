"""Legibility (issue 11, item 8): heat-map text meets WCAG's 4.5:1 on its colour in every
bundled theme, the off switch's knob can be seen, and the heat map has a legend.

The ratio is computed from the colours the app actually puts on screen: the styles of the
reply's rendered text (named ANSI colours resolved the way Textual draws them).
"""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.style import Style
from textual.color import Color
from textual.widgets import Switch

from tests.ui.helpers import greedy_config
from workbench.conversation import Conversation
from workbench.engine.steps import TokenStep
from workbench.ui.app import WorkbenchApp

THEMES = ("workbench-dark", "workbench-light", "workbench-high-contrast")


def luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(a: Color, b: Color) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def resolve(color: RichColor, app: WorkbenchApp) -> Color:
    triplet = color.get_truecolor(app.ansi_theme)
    return Color(triplet.red, triplet.green, triplet.blue)


def steps_over_p() -> list[TokenStep]:
    ps = [i / 40 for i in range(41)]
    return [TokenStep(i, 100 + i, f"t{i}", f" tok{i}", p, p, 1, 1.0, ()) for i, p in enumerate(ps)]


@pytest.mark.parametrize("theme", THEMES)
async def test_heat_map_text_is_readable_in_every_theme(theme: str) -> None:
    app = WorkbenchApp(greedy_config(theme=theme), autoload=False, save_settings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == theme
        conversation = Conversation()
        user = conversation.add("user", "hi")
        reply = conversation.add("assistant", "", parent=user.id)
        reply.steps = steps_over_p()
        reply.content = "".join(s.text for s in reply.steps)
        reply.status = "complete"
        app.conversation = conversation
        app._show_conversation()
        app.conversation_view.set_heatmap(True)
        await pilot.pause()
        view = app.conversation_view.view_for(reply.id)
        ratios = []
        for cursor in (None, 3):  # also under the token cursor (reversed)
            view.cursor = cursor
            body = view._body_text()
            for span in body.spans:
                style = span.style if isinstance(span.style, Style) else Style.parse(span.style)
                assert style.bgcolor is not None and style.color is not None, style
                fg, bg = resolve(style.color, app), resolve(style.bgcolor, app)
                if style.reverse:
                    fg, bg = bg, fg
                ratios.append((contrast(fg, bg), fg.hex, bg.hex))
        worst = min(ratios)
        assert worst[0] >= 4.5, f"{theme}: {worst[0]:.2f}:1 ({worst[1]} on {worst[2]})"


@pytest.mark.parametrize("theme", THEMES)
async def test_the_off_switch_knob_can_be_seen(theme: str) -> None:
    app = WorkbenchApp(greedy_config(theme=theme), autoload=False, save_settings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        switch = next(s for s in app.query(Switch) if not s.value)
        style = switch.get_component_rich_style("switch--slider")
        knob, track = resolve(style.color, app), resolve(style.bgcolor, app)
        assert contrast(knob, track) >= 4.5, f"{theme}: knob {knob.hex} on {track.hex}"


async def test_the_heat_map_has_a_legend_while_it_is_on() -> None:
    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        legend = app.conversation_view.query_one(".heat-legend")
        assert not legend.display
        await pilot.press("f6")
        await pilot.pause()
        assert legend.display and legend.region.height >= 1
        text = str(legend.render())
        assert "p of each token" in text and "0%" in text and "100%" in text
        await pilot.press("f6")
        await pilot.pause()
        assert not legend.display
