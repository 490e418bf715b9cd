"""The Sessions screen over a real store: order, search snippets, open/rename/duplicate/delete,
hostile titles, store errors, and a 10,000-session list that stays a window of rows."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, Static

from workbench.engine.errors import WorkbenchError
from workbench.sessions.snippets import MATCH_STYLE, snippet_text
from workbench.sessions.store import SessionStore
from workbench.ui.screens.dialogs import ConfirmScreen, RenameScreen
from workbench.ui.screens.sessions import (
    CURRENT_MARK,
    WINDOW,
    SessionList,
    SessionsScreen,
    format_updated,
)

SIZE = (80, 24)


class Harness(App[None]):
    """Pushes the screen at once and records what it dismisses with."""

    def __init__(self, store: SessionStore, current: int | None = None, *, push: bool = True) -> None:
        super().__init__()
        self.store = store
        self.current = current
        self.push = push
        self.results: list[int | None] = []

    def on_mount(self) -> None:
        if self.push:
            self.open_sessions()

    def open_sessions(self) -> None:
        self.push_screen(SessionsScreen(self.store, self.current), self.results.append)


async def wait_until(pilot: Pilot, predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {getattr(predicate, '__name__', predicate)}")
        await pilot.pause(0.02)


@pytest.fixture
def store() -> SessionStore:
    with SessionStore() as opened:  # WORKBENCH_HOME is a tmp dir (tests/conftest.py)
        yield opened


def chat(store: SessionStore, user: str, reply: str | None = None, model: str = "default") -> int:
    session = store.create_session(model)
    store.add_message(session, "user", user)
    if reply is not None:
        message = store.start_reply(session)
        store.finish_reply(message, reply)
    return session


def screen_of(app: App) -> SessionsScreen:
    screen = app.screen_stack[1] if len(app.screen_stack) > 1 else app.screen
    assert isinstance(screen, SessionsScreen)
    return screen


def session_list(app: App) -> SessionList:
    return screen_of(app).query_one("#sessions-list", SessionList)


def shown_ids(app: App) -> list[int]:
    return [row.id for row in session_list(app).rows]


def prompt(app: App, index: int) -> Text:
    value = session_list(app).get_option_at_index(index).prompt
    assert isinstance(value, Text)
    return value


def count_label(app: App) -> str:
    return str(screen_of(app).query_one("#sessions-count", Static).render())


def screen_text(app: App) -> str:
    """What the list widget draws, line by line (the real strips, after rendering)."""
    widget = session_list(app)
    lines = []
    for y in range(widget.scrollable_content_region.height):
        lines.append("".join(segment.text for segment in widget.render_line(y)))
    return "\n".join(lines)


async def open_screen(pilot: Pilot) -> None:
    def loaded() -> bool:
        screen = pilot.app.screen
        lists = screen.query(SessionList) if isinstance(screen, SessionsScreen) else []
        return bool(lists and lists.first().rows)

    await wait_until(pilot, loaded)


# -- pure pieces -------------------------------------------------------------------------------


def test_snippet_spans_survive_control_characters() -> None:
    raw = "a\x85b [bold]Paris[/] \x1b]52;c;x\x07 end"
    start = raw.index("Paris")
    text = snippet_text(raw, ((start, start + 5),))
    assert "\x1b" not in text.plain and "\x85" not in text.plain and "\x07" not in text.plain
    styled = [text.plain[span.start : span.end] for span in text.spans if span.style == MATCH_STYLE]
    assert styled == ["Paris"]  # the C1 stand-in (<0x85>, 6 cells) before it did not shift the span
    assert "[bold]Paris[/]" in text.plain


def test_format_updated_today_and_other_days() -> None:
    now = time.time()
    assert format_updated(now).startswith("today ")
    assert format_updated(now - 400 * 86400)[:2] == "20" and len(format_updated(now - 400 * 86400)) == 16
    assert format_updated(1e20) == "?"


# -- the screen --------------------------------------------------------------------------------


async def test_lists_newest_first_with_count_and_current_mark(store: SessionStore) -> None:
    first = chat(store, "First question", "First answer")
    second = chat(store, "Second question", model="HuggingFaceTB/SmolLM2-135M-Instruct")
    third = chat(store, "Third question", "Third answer")
    app = Harness(store, current=second)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        assert shown_ids(app) == [third, second, first]
        assert count_label(app) == "3 sessions"
        rows = [prompt(app, i).plain for i in range(3)]
        assert rows[0].startswith("  Third question")
        assert rows[1].startswith(f"{CURRENT_MARK} Second question")  # the session the app shows
        assert "135M-Instruct" in rows[1] and "Hugging" not in rows[1]  # the model id keeps its end
        assert (
            rows[0]
            .rstrip()
            .endswith("2  today " + time.strftime("%H:%M", time.localtime(store.get_session(third).updated)))
        )
        assert session_list(app).summary.id == second  # the cursor starts on the current one
        assert app.focused is session_list(app)
        footer_keys = {b.binding.description for b in app.screen.active_bindings.values()}
        assert {"Open", "Rename", "Duplicate", "Delete", "Close", "Search"} <= footer_keys


async def test_search_finds_a_reply_word_with_a_highlighted_snippet(store: SessionStore) -> None:
    france = chat(store, "Tell me about France", "The capital of France is Paris, on the Seine.")
    chat(store, "Tell me about Italy", "The capital of Italy is Rome.")
    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input) and app.focused.id == "sessions-search"
        await pilot.press(*"paris")
        await wait_until(pilot, lambda: shown_ids(app) == [france])
        assert count_label(app) == "1 of 2 sessions match"
        row = prompt(app, 0)
        first_line, snippet_line = row.plain.split("\n")
        assert "Tell me about France" in first_line
        assert "Paris" in snippet_line
        matched = [row.plain[s.start : s.end] for s in row.spans if s.style == MATCH_STYLE]
        assert matched == ["Paris"]
        assert "Paris" in screen_text(app)
        # Enter in the search box opens the highlighted hit.
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.results)
        assert app.results == [france]


async def test_clearing_the_search_lists_everything_again(store: SessionStore) -> None:
    ids = [chat(store, f"question {i}", f"answer {i} zebra" if i == 1 else f"answer {i}") for i in range(3)]
    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("slash", *"zebra")
        await wait_until(pilot, lambda: shown_ids(app) == [ids[1]])
        await pilot.press(*["backspace"] * 5)
        await wait_until(pilot, lambda: shown_ids(app) == ids[::-1])
        assert count_label(app) == "3 sessions"
        await pilot.press("slash", *"nothingmatches")
        await wait_until(pilot, lambda: not session_list(app).rows and "0 of 3" in count_label(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.results == [None])


async def test_enter_opens_the_highlighted_session_and_escape_closes(store: SessionStore) -> None:
    older = chat(store, "older")
    chat(store, "newer")
    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.results)
        assert app.results == [older]
        assert not isinstance(app.screen, SessionsScreen)
    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.results)
        assert app.results == [None]


async def test_rename_through_the_modal_refusing_an_empty_title(store: SessionStore) -> None:
    target = chat(store, "Original title")
    other = chat(store, "Another one")
    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("down", "r")
        await wait_until(pilot, lambda: isinstance(app.screen, RenameScreen))
        field = app.screen.query_one("#rename-input", Input)
        assert field.value == "Original title"
        field.value = "   "
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RenameScreen)  # refused in place
        assert "cannot be empty" in str(app.screen.query_one("#rename-error", Static).render())
        field.value = "  Renamed   session "
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await wait_until(pilot, lambda: store.get_session(target).title == "Renamed session")
        # Renaming makes it the newest; the cursor follows it.
        assert shown_ids(app) == [target, other]
        assert session_list(app).summary.id == target
        assert prompt(app, 0).plain.startswith("  Renamed session")
        # Escape cancels without a change.
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RenameScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        assert store.get_session(target).title == "Renamed session"


async def test_duplicate_highlights_the_copy(store: SessionStore) -> None:
    source = chat(store, "Keep this", "A reply worth keeping")
    chat(store, "Newest")
    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("down", "d")
        await wait_until(pilot, lambda: count_label(app) == "3 sessions")
        copy = session_list(app).summary
        assert copy is not None and copy.id not in (source,)
        assert copy.title == "Keep this (copy)" and copy.message_count == 2
        assert shown_ids(app)[0] == copy.id
        assert [m.content for m in store.messages(copy.id)] == ["Keep this", "A reply worth keeping"]


async def test_delete_asks_first_and_cancel_keeps_it(store: SessionStore) -> None:
    keep = chat(store, "Keep me")
    doomed = chat(store, "Doomed chat", "some reply")
    newest = chat(store, "Newest")
    app = Harness(store, current=doomed)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        assert session_list(app).summary.id == doomed
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        message = str(app.screen.query_one("#confirm-message", Static).render())
        assert message == "Delete “Doomed chat”? Its 2 messages are removed for good."
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        assert store.get_session(doomed).title == "Doomed chat"
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        assert len(shown_ids(app)) == 3
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: count_label(app) == "2 sessions")
        with pytest.raises(WorkbenchError):
            store.get_session(doomed)
        assert shown_ids(app) == [newest, keep]
        assert session_list(app).summary.id == keep  # the cursor moved on to the next one
        assert screen_of(app).deleted_ids == [doomed]
        assert CURRENT_MARK not in prompt(app, 0).plain + prompt(app, 1).plain
        # Clicking "Yes" works as well as the key.
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Its 1 message is removed" in str(app.screen.query_one("#confirm-message", Static).render())
        await pilot.click("#confirm-yes")
        await wait_until(pilot, lambda: count_label(app) == "1 session")


async def test_hostile_titles_and_snippets_render_literally(store: SessionStore) -> None:
    hostile = "[bold]loud[/] \x1b[2J\x1b]0;pwned\x07 [link=x]y\x9b"
    session = chat(store, "plain", "[red]zebra[/] \x1b]52;c;aGk=\x07 done", model="\x1b[31mmodel")
    store.rename(session, hostile)
    app = Harness(store)
    async with app.run_test(size=(120, 30)) as pilot:  # wide enough for the whole title
        await open_screen(pilot)
        row = prompt(app, 0).plain
        assert "[bold]loud[/] ␛[2J␛]0;pwned␇ [link=x]y<0x9B>" in row
        drawn = screen_text(app)
        assert "[bold]loud[/]" in drawn
        assert not any(ch in drawn for ch in "\x1b\x07\x9b")
        await pilot.press("slash", *"zebra")
        await wait_until(pilot, lambda: "\n" in prompt(app, 0).plain)
        snippet = prompt(app, 0).plain.split("\n")[1]
        assert "[red]zebra[/] ␛]52;c;aGk=␇" in snippet
        assert not any(ch in screen_text(app) for ch in "\x1b\x07")
        await pilot.press("down")  # into the list
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        message = str(app.screen.query_one("#confirm-message", Static).render())
        assert "[bold]loud[/] ␛[2J" in message and "\x1b" not in message


async def test_store_errors_are_notified_not_raised(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = chat(store, "Fine so far")

    def broken(*args: object, **kwargs: object) -> None:
        raise WorkbenchError("the session database is on fire")

    app = Harness(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        monkeypatch.setattr(store, "rename", broken)
        monkeypatch.setattr(store, "list_sessions", broken)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RenameScreen))
        app.screen.query_one("#rename-input", Input).value = "New"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app._notifications)
        await pilot.press("slash", *"anything")
        await wait_until(pilot, lambda: len(app._notifications) >= 2)
        assert all(n.severity == "error" for n in app._notifications)
        assert isinstance(app.screen, SessionsScreen)
        assert shown_ids(app) == [session]  # the last good list stays


async def test_ten_thousand_sessions_open_fast_and_the_end_is_reachable(store: SessionStore) -> None:
    now = time.time()
    count = 10_000
    with store._lock:  # one transaction: ~20 ms instead of ~10,000 commits
        store._conn.execute("BEGIN IMMEDIATE")
        store._conn.executemany(
            "INSERT INTO sessions (title, model, created, updated) VALUES (?, 'default', ?, ?)",
            [(f"session {i}", now - count + i, now - count + i) for i in range(count)],
        )
        store._conn.execute("COMMIT")
    # "Fast" without a clock: the screen reads windows of rows, never the whole table.
    fetched: list[int | None] = []
    list_sessions = store.list_sessions

    def counting(search=None, limit=None, offset=0):
        fetched.append(limit)
        return list_sessions(search, limit=limit, offset=offset)

    store.list_sessions = counting  # type: ignore[method-assign]
    app = Harness(store, push=False)
    async with app.run_test(size=SIZE) as pilot:
        app.open_sessions()
        await open_screen(pilot)
        await pilot.pause()  # drawn, not just loaded
        assert fetched and all(limit is not None and limit <= WINDOW for limit in fetched), fetched
        widget = session_list(app)
        assert count_label(app) == "10,000 sessions"
        assert widget.option_count <= WINDOW  # a window, not 10,000 rows
        assert widget.summary.title == "session 9999"

        # Paging down walks the whole list in order, across window moves.
        for _ in range(40):
            await pilot.press("pagedown")
        await pilot.pause()
        position = widget.position
        assert position is not None and position > WINDOW  # past the first window
        assert widget.summary.title == f"session {count - 1 - position}"
        assert all(limit is not None and limit <= WINDOW for limit in fetched), fetched
        assert widget.option_count <= WINDOW and widget.start > 0
        await pilot.press("down")
        await pilot.pause()
        assert widget.position == position + 1
        assert widget.summary.title == f"session {count - 2 - position}"

        # Scrolling the view (wheel, scrollbar) past the window moves the window too.
        start = widget.start
        widget.scroll_to(y=widget.max_scroll_y, animate=False, immediate=True)
        await wait_until(pilot, lambda: widget.start > start)
        assert widget.summary.title == f"session {count - 1 - widget.position}"  # still in order
        assert widget.option_count <= WINDOW
        await pilot.press("end")
        await wait_until(pilot, lambda: widget.position == count - 1)
        assert widget.summary.title == "session 0"
        assert widget.border_subtitle == "10,000 / 10,000"
        assert "session 0" in screen_text(app)
        await pilot.press("down")  # no wrap-round at the very end
        await pilot.pause()
        assert widget.position == count - 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.results)
        assert app.results == [store.list_sessions(limit=1, offset=count - 1)[0].id]
