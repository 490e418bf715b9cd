"""SVG snapshots of the main layouts (pytest-textual-snapshot). Update with --snapshot-update.

Figures that change from run to run (speed, memory) are frozen before the picture is taken,
and only where the app shows them itself (no speed or memory before a model has run), so each
picture is a status line a user can see; everything else, the candidates and their
probabilities included, is the real output of a tiny seeded model.
"""

from __future__ import annotations

import pytest

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, paused, send, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp


def freeze(app: WorkbenchApp) -> None:
    app.clear_notifications()
    for widget in app.query("Input"):
        widget.cursor_blink = False
    for widget in app.query("TextArea"):
        widget.cursor_blink = False
    if app.status.info.tokens_per_second is not None or app.generating:
        # a streaming reply's rate appears once the app has measured one: whether it has by
        # the time of the picture depends on the machine's speed
        app.status.update_info(tokens_per_second=12.3)
    if app.generating and app.reply is not None:
        # the status line catches up with the reply at most twice a second: show where it is
        app.status.update_info(context_used=app._prompt_tokens + len(app.reply.turn.steps))
    for view in app.conversation_view.views():
        if view.turn.stats.get("tokens_per_second"):
            view.turn.stats["tokens_per_second"] = 12.3
        if view.turn.stats.get("first_token_seconds") is not None:
            view.turn.stats["first_token_seconds"] = 0.045
        view.refresh_body()


@pytest.fixture(autouse=True)
def stable_memory_figure(monkeypatch):
    """The app reads memory every 2 s once a model is loaded; a fixed reading keeps the picture
    stable whenever that happens, and the app alone decides where the figure is shown."""
    from workbench.engine import devices

    monkeypatch.setattr(devices, "memory_in_use", lambda plan: "RAM 1.00G")


async def chat_with_reply(pilot) -> None:
    app = pilot.app
    await start_with_model(app, pilot, tiny_loaded())
    await send(app, pilot, "What is a token?")
    freeze(app)
    await pilot.pause()


def app_for_snapshot() -> WorkbenchApp:
    return WorkbenchApp(greedy_config(max_new_tokens=12), autoload=False, save_settings=False)


def test_chat_80x24(snap_compare):
    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=chat_with_reply)


def test_chat_with_token_cursor_and_heatmap_200x50(snap_compare):
    async def run_before(pilot) -> None:
        await chat_with_reply(pilot)
        await pilot.press("f6")
        pilot.app.conversation_view.focus()
        await pilot.press("left", "left")
        freeze(pilot.app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(200, 50), run_before=run_before)


def test_tokenizer_80x24(snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f3")
        # F3 hands the focus to the text box after a refresh: wait for it, or the picture
        # depends on whether the box drew its cursor yet
        await wait_until(pilot, lambda: app.focused is app.query_one("#tok-input"), what="focus")
        box = app.query_one("#tok-input")
        box.load_text("good morning, i am good")
        box.move_cursor(box.document.end)  # where typing leaves it
        await wait_until(
            pilot, lambda: "6 tokens" in str(app.query_one("#tok-counts").content), what="tokens"
        )
        freeze(app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=run_before)


def test_settings_80x24(snap_compare):
    async def run_before(pilot) -> None:
        await pilot.press("f4")
        freeze(pilot.app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=run_before)


def test_help_80x24(snap_compare):
    async def run_before(pilot) -> None:
        freeze(pilot.app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=run_before)


async def branch_comparison(pilot) -> None:
    """A reply, a branch from its token 4 with candidate 4, then the comparison screen (c)."""
    app = pilot.app
    await chat_with_reply(pilot)
    original = app.conversation.last("assistant")
    app.conversation_view.focus()
    await pilot.press("home", "right", "right", "right", "4")
    await wait_until(pilot, lambda: not app.generating and app.conversation.last("assistant") is not original)
    await pilot.press("c")
    await wait_until(pilot, lambda: type(app.screen).__name__ == "CompareScreen", what="comparison")
    freeze(app)
    await pilot.pause()


def test_branch_comparison_80x24(snap_compare):
    assert snap_compare(app_for_snapshot(), terminal_size=(80, 24), run_before=branch_comparison)


def test_branch_comparison_100x30(snap_compare):
    assert snap_compare(app_for_snapshot(), terminal_size=(100, 30), run_before=branch_comparison)


# --- issue 11's pictures: each at 80x24 and 100x30 -------------------------------------------

SIZES = [(80, 24), (100, 30)]


class HeldSampler:
    """Holds the engine after ``after`` tokens (the real greedy choice is kept), so a picture
    can be taken mid-reply; it lets go when the app exits."""

    def __init__(self, after: int) -> None:
        import threading

        self.after = after
        self.produced = 0
        self.held = threading.Event()
        self.app: WorkbenchApp | None = None

    def wrap(self, choose):  # type: ignore[no-untyped-def]
        def held_choose(sampler, q):  # type: ignore[no-untyped-def]
            if self.produced == self.after:
                self.held.set()
                while self.app is not None and not self.app._exit:
                    self.held.wait(0.05)
            self.produced += 1
            return choose(sampler, q)

        return held_choose


@pytest.fixture
def held_sampler(monkeypatch: pytest.MonkeyPatch) -> HeldSampler:
    from workbench.engine import sampling

    held = HeldSampler(after=8)
    monkeypatch.setattr(sampling.Sampler, "choose", held.wrap(sampling.Sampler.choose))
    return held


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_chart_while_streaming(snap_compare, held_sampler, size):
    async def run_before(pilot) -> None:
        app = pilot.app
        held_sampler.app = app
        await start_with_model(app, pilot, tiny_loaded())
        app.chat_input.value = "What is a token?"
        await pilot.press("enter")
        await wait_until(pilot, held_sampler.held.is_set, what="the engine to hold")
        await wait_until(pilot, lambda: app.reply is not None and len(app.reply.turn.steps) == 8)
        # the chart takes the newest token a frame after the text (ui/chatting.py)
        await wait_until(pilot, lambda: app.chart.step is app.reply.turn.steps[-1], what="the chart's update")
        # the message box keeps the focus while a reply streams (its cursor is in the picture)
        await wait_until(pilot, lambda: app.chat_input.has_focus, what="the message box's focus")
        freeze(app)
        await pilot.pause()

    app = WorkbenchApp(greedy_config(max_new_tokens=40), autoload=False, save_settings=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_chart_paused_in_step_mode(snap_compare, size):
    async def run_before(pilot) -> None:
        app = pilot.app
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        app.chat_input.value = "What is a token?"
        await pilot.press("enter")
        for count in range(4):
            await paused(app, pilot, count)
            if count < 3:
                await pilot.press("space")
        # a waiting token gives the chart the focus (the message box's cursor goes)
        await wait_until(pilot, lambda: app.chart.has_focus, what="the chart's focus")
        freeze(app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_finished_long_reply_ends_in_view(snap_compare, size):
    async def run_before(pilot) -> None:
        app = pilot.app
        await start_with_model(app, pilot, tiny_loaded())
        await send(app, pilot, "Tell me a long story")
        await pilot.pause()
        freeze(app)
        await pilot.pause()

    app = WorkbenchApp(greedy_config(max_new_tokens=160), autoload=False, save_settings=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_heat_map_with_its_legend(snap_compare, size):
    async def run_before(pilot) -> None:
        await chat_with_reply(pilot)
        await pilot.press("f6")
        freeze(pilot.app)
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=size, run_before=run_before)


def test_help_100x30(snap_compare):
    async def run_before(pilot) -> None:
        freeze(pilot.app)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_for_snapshot(), terminal_size=(100, 30), run_before=run_before)
