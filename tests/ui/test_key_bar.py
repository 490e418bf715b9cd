"""The key bar shows the keys of the focused place, fitting at 80 columns; F5 Sessions sits on
the tab bar's row; keys typed before the message box has the focus, or right after a tab key,
reach the right field."""

from __future__ import annotations

from textual import events
from textual.widgets import Tabs

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, paused, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp
from workbench.ui.keys import HINTS, hints_for, key_name
from workbench.ui.widgets.key_bar import KeyBar


def bar_text(app: WorkbenchApp) -> str:
    return app.query_one(KeyBar).render().plain


def test_every_place_fits_80_columns_with_help_last_and_esc_first_while_generating():
    for place in HINTS:
        for generating in (False, True):
            hints = hints_for(place, 78, generating)
            text = "  ".join(f"{key} {label}" for key, label in hints)
            assert len(text) <= 78, (place, text)
            assert hints[-1] == ("F1", "help")
            assert len(hints) >= 3, (place, hints)  # the place's first keys always fit
            if generating and place != "chart-paused":
                assert hints[0] == ("Esc", "stop")
    # narrower, the less important keys go first; help stays
    assert hints_for("message", 35) == [("Enter", "send"), ("Ctrl+J", "newline"), ("F1", "help")]


def test_key_names_are_the_ones_on_the_keyboard():
    assert key_name("left_square_bracket,right_square_bracket") == "[, ]"
    assert key_name("ctrl+r") == "Ctrl+R"
    assert key_name("escape,f1,q") == "Esc, F1, q"
    assert key_name("plus,equals_sign") == "+, ="
    assert key_name("space") == "Space"


async def test_key_bar_follows_the_focus_at_80_columns():
    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.chat_input.has_focus, what="message box focus")
        await pilot.pause()
        bar = app.query_one(KeyBar)
        assert bar.region.width == 80 and bar.region.y == 23  # the last row
        text = bar_text(app)
        for words in ("Enter send", "Ctrl+J newline", "Tab tokens", "F5 sessions", "F7 step mode", "F1 help"):
            assert words in text, text
        await pilot.press("tab")
        await wait_until(pilot, lambda: app.conversation_view.has_focus, what="conversation focus")
        await wait_until(pilot, lambda: "←/→ token" in bar_text(app), what="conversation keys")
        text = bar_text(app)
        for words in ("1-9 branch", "[ ] branches", "e edit", "F1 help"):
            assert words in text, text
        await pilot.press("f3")
        await wait_until(pilot, lambda: "Ctrl+T specials" in bar_text(app), what="tokenizer keys")
        assert "Ctrl+O export" in bar_text(app)
        await pilot.press("f4")
        await wait_until(pilot, lambda: "Tab next field" in bar_text(app), what="settings keys")
        await pilot.press("f9")
        await wait_until(pilot, lambda: "Ctrl+L classify" in bar_text(app), what="classify keys")
        await pilot.press("f10")
        await wait_until(pilot, lambda: "Ctrl+L fill" in bar_text(app), what="fill keys")


async def test_key_bar_in_step_mode_shows_the_step_keys_while_a_token_waits():
    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, tiny_loaded())
        await pilot.press("f7")
        app.chat_input.value = "Step"
        await pilot.press("enter")
        await paused(app, pilot, 0)
        await wait_until(pilot, lambda: "Space sample" in bar_text(app), what="step keys")
        text = bar_text(app)
        for words in ("g greedy", "1-9 pick", "t type", "p play", "+/- speed", "F1 help"):
            assert words in text, text
        assert len(text) <= 78
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.generating, what="the reply to stop")
        await wait_until(pilot, lambda: "Space sample" not in bar_text(app), what="step keys gone")


async def test_f5_sessions_is_on_the_tab_bar_row_and_opens_sessions_when_clicked():
    from workbench.ui.screens.sessions import SessionsScreen

    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        link = app.query_one("#sessions-link")
        tabs = [tab.region for tab in app.query("ContentTab")]
        assert link.region.y == tabs[0].y == 0
        assert link.region.right == 100  # at the right end of the row, inside the screen
        assert all(tab.right <= link.region.x for tab in tabs)  # over no tab
        assert "F5 Sessions" in link.render().plain
        await pilot.click("#sessions-link")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen), what="sessions screen")


async def test_f5_sessions_on_the_tab_bar_covers_no_tab_at_any_width():
    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(100, 24)) as pilot:
        for width in (91, 90, 80, 60):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            link = app.query_one("#sessions-link")
            if link.display:
                assert all(tab.region.right <= link.region.x for tab in app.query("ContentTab")), width
            else:
                assert width < 91
        await pilot.resize_terminal(91, 24)
        await wait_until(pilot, lambda: app.query_one("#sessions-link").display, what="the link back at 91")


class EarlyTypist(WorkbenchApp):
    """Keys arrive as the app mounts, before the message box has the focus: what a terminal
    hands over when the user types while the app starts."""

    def on_mount(self) -> None:
        for char in "hi":
            self.post_message(events.Key(char, char))
        super().on_mount()


async def test_keys_typed_while_the_app_starts_reach_the_message_box():
    app = EarlyTypist(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot, lambda: app.chat_input.value == "hi", what=f"'hi' typed, not {app.chat_input.value!r}"
        )


async def test_keys_typed_right_after_f4_go_to_the_settings_field_not_the_message_box():
    """The keys are queued together, as when typed fast: Textual hands each key to the widget
    focused when it is read, so before the fix "abc" went into the message box."""
    from textual.widgets import Input

    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.chat_input.has_focus, what="message box focus")
        for key in ("f4", "a", "b", "c"):
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        model = app.query_one("#set-model", Input)
        await wait_until(
            pilot, lambda: model.value == "abc", what=f"'abc' in the model field, not {model.value!r}"
        )
        assert app.chat_input.value == ""
        for key in ("f2", "x", "y"):  # and back: the message box gets what follows F2
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await wait_until(pilot, lambda: app.chat_input.value == "xy", what="'xy' in the message box")
        assert model.value == "abc"


async def test_keys_typed_right_after_tab_in_settings_go_to_the_next_field():
    """Tab and the digits queued together, as when typed fast: before the fix Tab went to the
    field first and up to the app's binding, and the digits read meanwhile stayed behind."""
    from textual.widgets import Input

    app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        top_k, top_p = app.query_one("#set-top-k", Input), app.query_one("#set-top-p", Input)
        top_k.focus()
        await wait_until(pilot, lambda: top_k.has_focus, what="top-k focus")
        await pilot.pause()
        for key, char in (("tab", None), ("0", "0"), ("full_stop", "."), ("5", "5")):
            app.post_message(events.Key(key, char))
        await wait_until(pilot, lambda: top_p.value == "0.5", what="'0.5' in the top-p field")
        assert top_k.value == "40"


async def test_shift_tab_never_strands_the_focus_on_the_tab_row_and_f2_comes_back():
    """Shift+Tab from the conversation went to the tab row, where typed text vanished while the
    key bar still showed the message box's keys; F2 on the Chat tab did not bring it back."""
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.focused is app.chat_input, what="message box focused")
        for _ in range(4):
            await pilot.press("shift+tab")
            await pilot.pause()
            assert not isinstance(app.focused, Tabs), "the tab row took the focus"
        app.set_focus(None)
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.focused is app.chat_input, what="F2 focuses the message box")
        await pilot.press("z", "z")
        assert app.chat_input.value == "zz"
