"""How reply text looks. One rule for streaming, finished and resumed replies: the text exactly
as the model wrote it (``* The`` stays ``* The``); ``m`` turns on the Markdown view of finished
replies. Completion mode is one plain running document: the prompt and its continuations run
on in one text, each continuation's tokens still selectable."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Markdown, Static

from tests.ui.helpers import shown_text, wait_until
from workbench.conversation import Turn
from workbench.engine.steps import TokenStep
from workbench.ui.widgets import message_view as message_view_module
from workbench.ui.widgets.conversation import ConversationView, MessageView
from workbench.ui.widgets.streaming_text import StreamingText

MARKDOWNISH = ["*", " The", " first", "\n", "*", " The", " second", "\n\n", "#", " Title"]
RAW = "".join(MARKDOWNISH)


def steps(texts: list[str], start: int = 0) -> list[TokenStep]:
    return [
        TokenStep(
            index=i,
            token_id=100 + start + i,
            label=t,
            text=t,
            p=0.5,
            q=0.5,
            rank=1,
            entropy=1.0,
            candidates=(),
        )
        for i, t in enumerate(texts)
    ]


def reply(turn_id: int, texts: list[str], parent: int, status: str = "complete") -> Turn:
    return Turn(turn_id, "assistant", "".join(texts), parent, status=status, steps=steps(texts))


class ConversationApp(App[None]):
    def __init__(self, completion: bool = False) -> None:
        super().__init__()
        self.completion = completion

    def compose(self) -> ComposeResult:
        yield ConversationView(id="conversation")

    def on_mount(self) -> None:
        self.query_one(ConversationView).set_completion_mode(self.completion)


async def show_reply(pilot, user: Turn, turn: Turn) -> tuple[ConversationView, MessageView]:
    """The app's conversation with ``user``'s message and the reply ``turn`` added, laid out."""
    conversation = pilot.app.query_one(ConversationView)
    conversation.add_turn(user)
    view = conversation.add_turn(turn)
    await pilot.pause()
    return conversation, view


async def test_streaming_finished_and_resumed_replies_show_the_same_raw_text():
    user = Turn(1, "user", "List two things", None)
    turn = reply(2, MARKDOWNISH[:3], 1, status="streaming")
    app = ConversationApp()
    async with app.run_test(size=(80, 24)) as pilot:
        conversation, view = await show_reply(pilot, user, turn)
        more = steps(MARKDOWNISH, 0)[3:]
        turn.steps.extend(more)
        turn.content = RAW
        view.append_steps(more)
        await pilot.pause()
        assert shown_text(view) == RAW  # streaming
        turn.status = "complete"
        view.refresh_body()
        for _ in range(5):
            await pilot.pause(0.05)  # (a Markdown rendering would be parsed meanwhile)
        assert shown_text(view) == RAW  # finished
        conversation.show_turns([user, turn])  # resumed from a saved session
        await pilot.pause()
        resumed = conversation.view_for(2)
        assert resumed is not None and resumed is not view
        await pilot.pause(0.2)
        assert shown_text(resumed) == RAW


async def test_the_markdown_view_renders_finished_replies_and_m_toggles_it():
    user = Turn(1, "user", "List two things", None)
    turn = reply(2, MARKDOWNISH, 1)
    app = ConversationApp()
    async with app.run_test(size=(80, 24)) as pilot:
        conversation = app.query_one(ConversationView)
        conversation.add_turn(user)
        view = conversation.add_turn(turn)
        conversation.blur()  # (the only focusable widget here: focused from the start)
        await pilot.pause()
        conversation.focus()
        await pilot.pause()
        assert conversation.selected[1] is turn.steps[-1]
        await pilot.press("m")  # lifts the token cursor, which would show tokens
        markdown = view.query_one(".message-markdown", Markdown)
        await wait_until(pilot, lambda: markdown.display and bool(markdown.children), what="the Markdown")
        assert conversation.selected[1] is None
        await pilot.press("left")  # the cursor is back: tokens
        await pilot.pause()
        assert conversation.selected[1] is turn.steps[-2] and not markdown.display
        await pilot.press("m")
        await pilot.pause()
        assert shown_text(view).startswith("* The first")


def document_text(conversation: ConversationView) -> str:
    return str(conversation.document.query_one(".document-text", Static).render())


async def test_completion_mode_is_one_plain_running_document():
    prompt = Turn(1, "user", "* The cat", None)
    first = reply(2, [" sat", " on", "\n", "*", " The", " mat"], 1)
    second = Turn(3, "assistant", " and slept.", 2, steps=steps([" and", " slept", "."], 10))
    app = ConversationApp(completion=True)
    async with app.run_test(size=(80, 24)) as pilot:
        conversation = app.query_one(ConversationView)
        conversation.show_turns([prompt, first, second])
        await pilot.pause(0.2)
        assert document_text(conversation) == "* The cat sat on\n* The mat and slept."
        assert not any(view.display for view in conversation.views()), "one document, not blocks"
        assert conversation.document.display
        # each continuation's tokens stay selectable: keys and the mouse
        conversation.blur()  # (the only focusable widget here: focused from the start)
        await pilot.pause()
        conversation.focus()
        await pilot.pause()
        assert conversation.selected[1] is second.steps[-1]
        await pilot.press("left", "left", "left")
        await pilot.pause()
        assert conversation.selected == (first, first.steps[-1])
        document = conversation.document
        for y in range(document.region.y, document.region.bottom):
            for x in range(document.region.x, document.region.right):
                meta = app.screen.get_style_at(x, y).meta
                if meta.get("turn") == 2 and meta.get("token") == 1:
                    await pilot.click(offset=(x, y))
                    await pilot.pause()
                    assert conversation.selected == (first, first.steps[1])
                    return
        raise AssertionError("token 1 of the first continuation is not on screen")


async def test_finishing_a_plain_reply_renders_nothing_again(monkeypatch):
    """The streamed text stays on screen when the reply ends: no render_steps of the whole
    reply, no update of the body (a 2,000-token reply cost ~100 ms of the UI thread there)."""
    rendered: list[int] = []
    real = message_view_module.render_steps

    def counting(steps, *args, **kwargs):
        rendered.append(len(steps))
        return real(steps, *args, **kwargs)

    monkeypatch.setattr(message_view_module, "render_steps", counting)
    user = Turn(1, "user", "List two things", None)
    turn = reply(2, MARKDOWNISH[:3], 1, status="streaming")
    app = ConversationApp()
    async with app.run_test(size=(80, 24)) as pilot:
        conversation = app.query_one(ConversationView)
        conversation.add_turn(user)
        conversation.blur()  # (the only focusable widget here: focus would put the cursor on)
        view = conversation.add_turn(turn)
        await pilot.pause()
        more = steps(MARKDOWNISH, 0)[3:]
        turn.steps.extend(more)
        turn.content = RAW + " STOP"  # a stop string is cut from the content, not from the steps
        view.append_steps(more)
        await pilot.pause()
        body = view.query_one(".message-body", Static)
        updates: list[object] = []
        monkeypatch.setattr(body, "update", lambda *args, **kwargs: updates.append(args))
        turn.status = "complete"
        turn.content = RAW
        view.refresh_body()
        await pilot.pause()
        assert rendered == [] and updates == []
        stream = view.query_one(".message-stream", StreamingText)
        assert stream.display and not body.display
        assert shown_text(view) == RAW
        assert stream.size.height == stream.text_rows == 4, "the reserved rows are given back"


class HoverApp(ConversationApp):
    def __init__(self) -> None:
        super().__init__()
        self.hovered: list[object] = []

    def on_conversation_view_token_hovered(self, message: ConversationView.TokenHovered) -> None:
        self.hovered.append(message.step)


async def test_the_mouse_finds_the_tokens_of_a_streaming_reply():
    user = Turn(1, "user", "List two things", None)
    turn = reply(2, MARKDOWNISH[:2], 1, status="streaming")
    app = HoverApp()
    async with app.run_test(size=(80, 24)) as pilot:
        conversation = app.query_one(ConversationView)
        conversation.add_turn(user)
        conversation.blur()
        view = conversation.add_turn(turn)
        await pilot.pause()
        more = steps(MARKDOWNISH, 0)[2:]
        turn.steps.extend(more)
        view.append_steps(more)  # " first" on the first line, " second" on the second
        await pilot.pause()

        def cell(index: int) -> tuple[int, int]:
            for y in range(view.region.y, view.region.bottom):
                for x in range(view.region.x, view.region.right):
                    meta = app.screen.get_style_at(x, y).meta
                    if meta.get("turn") == 2 and meta.get("token") == index:
                        return x, y
            raise AssertionError(f"token {index} is not on screen")

        assert cell(2)[1] + 1 == cell(6)[1]  # (after a newline: the next row)
        await pilot.hover(offset=cell(6))
        await wait_until(pilot, lambda: turn.steps[6] in app.hovered, what="the hover")
        await pilot.click(offset=cell(2))
        await wait_until(pilot, lambda: conversation.selected == (turn, turn.steps[2]), what="the click")
