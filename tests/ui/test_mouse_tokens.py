"""The mouse on reply tokens: a click selects the token (the token cursor moves there and the
chart shows it), a hover previews its candidates without moving the focus, and leaving the
tokens gives the chart back what it showed."""

from __future__ import annotations

from textual import events

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp


def token_cell(app: WorkbenchApp, turn_id: int, index: int) -> tuple[int, int] | None:
    """The screen cell that shows token ``index`` of reply ``turn_id`` (None: not on screen)."""
    view = app.conversation_view.view_for(turn_id)
    assert view is not None
    region = view.region
    for y in range(region.y, region.bottom):
        for x in range(region.x, region.right):
            meta = app.screen.get_style_at(x, y).meta
            if meta.get("turn") == turn_id and meta.get("token") == index:
                return x, y
    return None


def pick_token(app: WorkbenchApp, turn_id: int) -> tuple[int, tuple[int, int]]:
    """A token other than the last with visible text, and its cell."""
    turn = app.conversation.turns[turn_id]
    for index, step in enumerate(turn.steps[:-1]):
        if index and step.text.strip():
            cell = token_cell(app, turn_id, index)
            if cell is not None:
                return index, cell
    raise AssertionError(f"no visible token in {[s.text for s in turn.steps]}")


async def _replied(pilot, app: WorkbenchApp) -> int:
    await start_with_model(app, pilot, tiny_loaded())
    await send(app, pilot, "Hello there")
    turn = app.conversation.last("assistant")
    assert turn is not None and len(turn.steps) > 3
    await pilot.pause()
    return turn.id


async def test_a_click_on_a_token_selects_it():
    app = WorkbenchApp(greedy_config(max_new_tokens=16), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        turn_id = await _replied(pilot, app)
        steps = app.conversation.turns[turn_id].steps
        assert app.chat_input.has_focus
        index, (x, y) = pick_token(app, turn_id)
        await pilot.click(offset=(x, y))
        await wait_until(pilot, lambda: app.conversation_view.selected[1] is steps[index], what="the click")
        assert app.conversation_view.has_focus
        await pilot.pause()
        assert app.chart.step is steps[index]
        assert f"Token {index + 1}/{len(steps)}" in app.chart._caption
        # a second click, now that the view has the focus, moves the cursor again
        other = next(i for i in range(1, index) if steps[i].text.strip()) if index > 1 else None
        if other is not None:
            cell = token_cell(app, turn_id, other)
            assert cell is not None
            await pilot.click(offset=cell)
            await wait_until(pilot, lambda: app.chart.step is steps[other], what="the second click")


async def test_hover_previews_a_token_and_leaving_restores_the_chart():
    app = WorkbenchApp(greedy_config(max_new_tokens=16), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        turn_id = await _replied(pilot, app)
        steps = app.conversation.turns[turn_id].steps
        before = (app.chart.step, app.chart._caption)
        assert before[0] is steps[-1]
        index, cell = pick_token(app, turn_id)
        await pilot.hover(offset=cell)
        await wait_until(pilot, lambda: app.chart._step is steps[index], what="the hover preview")
        assert f"Token {index + 1}/{len(steps)}" in app.chart._caption
        assert app.chat_input.has_focus, "a hover does not move the focus"
        assert app.conversation_view.selected[1] is None, "nor the token cursor"
        await pilot.hover("#chat-input")
        await wait_until(pilot, lambda: app.chart._step is before[0], what="leaving restores")
        assert app.chart._caption == before[1]


async def test_leaving_a_hovered_token_restores_the_cursors_token():
    app = WorkbenchApp(greedy_config(max_new_tokens=16), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        turn_id = await _replied(pilot, app)
        steps = app.conversation.turns[turn_id].steps
        index, cell = pick_token(app, turn_id)
        await pilot.click(offset=cell)
        await wait_until(pilot, lambda: app.chart.step is steps[index], what="the click")
        other = next(i for i in range(len(steps) - 1) if i != index and steps[i].text.strip())
        other_cell = token_cell(app, turn_id, other)
        assert other_cell is not None
        await pilot.hover(offset=other_cell)
        await wait_until(pilot, lambda: app.chart._step is steps[other], what="the hover preview")
        assert app.conversation_view.selected[1] is steps[index]
        await pilot.hover("#chat-input")
        await wait_until(pilot, lambda: app.chart._step is steps[index], what="back to the cursor's token")
        assert f"Token {index + 1}/{len(steps)} of the reply" in app.chart._caption


async def test_the_wheel_over_tokens_still_scrolls():
    """(A guard: the token meta and the hover must not take the wheel.)"""
    app = WorkbenchApp(greedy_config(max_new_tokens=150), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        turn_id = await _replied(pilot, app)
        view = app.conversation_view
        await wait_until(
            pilot, lambda: view.max_scroll_y > 3 and view.scroll_y == view.max_scroll_y, what="the end"
        )
        region = view.content_region
        cell = next(
            (x, y)
            for y in range(region.y, region.bottom)
            for x in range(region.x, region.right)
            if app.screen.get_style_at(x, y).meta.get("turn") == turn_id
        )
        before = view.scroll_y
        for _ in range(2):
            await pilot._post_mouse_events([events.MouseScrollUp], offset=cell)
        await wait_until(pilot, lambda: view.scroll_y < before, what="the wheel to scroll")
