"""The workbench app: tabs for chat, tokenizer and settings; the model's and the reply's lives.

Threads: every torch call runs on the one engine thread (engine/runner.py): loading, generating,
releasing a model. A reply's state has one owner, ui/reply.py, whose docstring gives the thread
contract; its tokens reach the screen through a timer that drains them FLUSH_HZ times a second
(one message per token would cost decode speed, see DESIGN.md). Session writes run on their own
writer thread (ui/persistence.py). Widgets are touched only on the UI thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane, Tabs

from workbench import paths
from workbench.backends.local import DecoderSlot
from workbench.config import Config
from workbench.conversation import Conversation, Turn
from workbench.engine import gcpolicy
from workbench.engine.settings import LoadSettings
from workbench.safetext import safe_line, safe_text
from workbench.ui import switching
from workbench.ui.branch_view import BranchViewMixin
from workbench.ui.chatting import ChatMixin
from workbench.ui.lens_view import LensViewMixin
from workbench.ui.messages import (
    GenerationEnded,
    LoadProgressed,
    ModelLoaded,
    ModelLoadFailed,
    ReplyPrompted,
    SessionWriteFailed,
    StepWaiting,
)
from workbench.ui.model_loading import ModelLoadingMixin
from workbench.ui.palette import palette_commands
from workbench.ui.panes.chat import ChatInput, ChatPane
from workbench.ui.panes.classify import ClassifyPane
from workbench.ui.panes.diff import DiffPane
from workbench.ui.panes.fill import FillPane
from workbench.ui.panes.score import ScorePane
from workbench.ui.panes.settings import SettingsPane
from workbench.ui.panes.tokenizer import TokenizerPane
from workbench.ui.persistence import SessionSync
from workbench.ui.reply import Reply
from workbench.ui.server_attach import ServerAttachMixin
from workbench.ui.session_view import SessionViewMixin
from workbench.ui.settings_apply import SettingsApplyMixin
from workbench.ui.stepmode import StepModeMixin
from workbench.ui.tab_focus import TabFocusMixin
from workbench.ui.themes import register_themes
from workbench.ui.widgets.chart import CandidatesChart
from workbench.ui.widgets.chat_header import ChatHeader
from workbench.ui.widgets.conversation import ConversationView
from workbench.ui.widgets.key_bar import KeyBar
from workbench.ui.widgets.status import StatusLine
from workbench.ui.widgets.tab_link import TabLink

if TYPE_CHECKING:
    from workbench.backends.server.backend import ServerBackend
    from workbench.engine.loading import LoadedModel
    from workbench.engine.stepping import StepChooser

FLUSH_HZ = 8  # measured (bench/ui.py): 20 Hz cost ~25% of a core on 2 cores and slowed decoding
# At exit, within the 2 s a signal or a lost terminal allows (ui/terminal.py's watchdog ends
# the process after 1.5 s): the most we wait for the reply to stop, for the queued session
# writes, and for the model's release (after which the process ends anyway).
COPIED_TOAST_S = 2.5  # a confirmation, gone before the next look at the screen
REPLY_STOP_WAIT_S = 0.6
SAVE_WAIT_S = 0.6
RELEASE_WAIT_S = 0.2
# Posted from other threads (or queued behind a user's key), so they can arrive while the app
# is closing its screens; then they are dropped, and on_unmount saves what must be saved.
LATE_MESSAGES = (
    LoadProgressed,
    ModelLoaded,
    ModelLoadFailed,
    GenerationEnded,
    StepWaiting,
    ReplyPrompted,
    SessionWriteFailed,
    ConversationView.TokenSelected,
    ConversationView.TokenHovered,
)


class WorkbenchApp(
    ChatMixin,
    StepModeMixin,
    ModelLoadingMixin,
    ServerAttachMixin,
    SessionViewMixin,
    BranchViewMixin,
    LensViewMixin,
    TabFocusMixin,
    SettingsApplyMixin,
    App[int],
):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses may live elsewhere
    TITLE = "workbench"
    # Below 91 columns the tabs (78 with F11 Score and F12 Diff) leave no room for "F5 Sessions"
    # (13) on their row (app.tcss); F5 stays in the key bar.
    HORIZONTAL_BREAKPOINTS = [(0, "-cramped-tabs"), (91, "-roomy-tabs")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+y", "copy", "Copy"),
        Binding("f5", "sessions", "Sessions"),
        Binding("f6", "toggle_heatmap", "Heat map"),
        Binding("f7", "toggle_step_mode", "Step mode"),
        Binding("f8", "toggle_completion_mode", "Chat/Text"),
        # Priority: switched as the key is read, so the keys typed after it are held for the
        # new tab's field (see action_show_tab), not handed to the old one meanwhile.
        Binding("f2", "show_tab('chat')", "Chat", show=False, priority=True),
        Binding("f3", "show_tab('tokenizer')", "Tokens", show=False, priority=True),
        Binding("f4", "show_tab('settings')", "Settings", show=False, priority=True),
        Binding("f9", "show_tab('classify')", "Classify", show=False, priority=True),
        Binding("f10", "show_tab('fill')", "Fill", show=False, priority=True),
        Binding("f11", "show_tab('score')", "Score", show=False, priority=True),
        Binding("f12", "show_tab('diff')", "Diff", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        config: Config | None = None,
        load: LoadSettings | None = None,
        resume: str | None = None,
        store: Any | None = None,
        autoload: bool = True,
        save_settings: bool = True,
        server: tuple[str, str | None] | None = None,
    ) -> None:
        super().__init__()
        self.config_data = config or Config()
        self.load_settings = load or self.config_data.model
        self.sampling = self.config_data.sampling
        self.ui_settings = self.config_data.ui
        self.resume = resume
        self.autoload = autoload
        self.save_settings = save_settings
        self.loaded: LoadedModel | None = None
        # --server URL: replies come from that server instead of a model in this process
        self.server: ServerBackend | None = None
        self.server_request = server
        self._loading: LoadSettings | None = None  # a load on its way (the old model stays till then)
        self._loaded_settings: LoadSettings | None = None  # what self.loaded was loaded with
        self.conversation = Conversation()
        self.sync = SessionSync(store, on_error=self._post_write_error)
        self._store_given = store is not None
        self._switch_interval_before = sys.getswitchinterval()
        self.first_frame_at: float | None = None
        self.reply: Reply | None = None  # the reply being generated: the owner of its state
        self.decoders = DecoderSlot()  # engine-thread only: the KV cache kept between replies
        self._waiting_for_model: Turn | None = None
        self._editing: Turn | None = None
        self._ending = False
        self.step_mode = False
        self.play_delay = 0.5
        self.completion_mode = False
        self._prompt_view_stale = True
        # Keys held while nothing should take them: typed while the app starts (until the
        # message box has the focus) or just after a tab key (until the tab's field has it).
        self._held_keys: list[events.Key] | None = []

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="chat", id="tabs"):
            with TabPane("F2 Chat", id="chat"):
                yield ChatPane()
            with TabPane("F3 Tokenizer", id="tokenizer"):
                yield TokenizerPane(id="tokenizer-pane")
            with TabPane("F4 Settings", id="settings"):
                yield SettingsPane(replace(self.config_data, model=self.load_settings), id="settings-pane")
            with TabPane("F9 Classify", id="classify"):
                yield ClassifyPane(id="classify-pane")
            with TabPane("F10 Fill", id="fill"):
                yield FillPane(id="fill-pane")
            with TabPane("F11 Score", id="score"):
                yield ScorePane(id="score-pane")
            with TabPane("F12 Diff", id="diff"):
                yield DiffPane(id="diff-pane")
        yield TabLink("F5", "Sessions", "app.sessions", id="sessions-link")
        yield StatusLine(id="status")
        yield KeyBar(id="key-bar")

    def on_mount(self) -> None:
        self._switch_interval_before = switching.favour_ui_thread()
        # The main screen's widgets, held rather than queried: a message can arrive while
        # another screen (help, sessions) is on top, where a query would find nothing.
        self._chart = self.query_one("#chart", CandidatesChart)
        self._conversation_view = self.query_one("#conversation", ConversationView)
        self._status = self.query_one("#status", StatusLine)
        self._key_bar = self.query_one("#key-bar", KeyBar)
        self._chat_input = self.query_one("#chat-input", ChatInput)
        self._tabs = self.query_one("#tabs", TabbedContent)
        self._settings_pane = self.query_one(SettingsPane)
        self._tokenizer_pane = self.query_one(TokenizerPane)
        self._chat_header = self.query_one("#chat-header", ChatHeader)
        # The tab row is for the mouse and F2-F12: focused by Shift+Tab it took typed text
        # silently, with the message box's keys still in the key bar.
        self._tabs.query_one(Tabs).can_focus = False  # (the tab row: TabbedContent's first Tabs)
        problems = register_themes(self, [paths.bundled_themes_dir(), paths.user_themes_dir()])
        if problems:
            self.notify(
                "\n".join(problems),
                title="Some theme files could not be used",
                severity="warning",
                timeout=10,
            )
        self._apply_theme(self.ui_settings.theme)
        self.chart.show_step(None, "Waiting for a token…")
        self.conversation_view.set_heatmap(self.ui_settings.heatmap)
        self._update_chat_header()
        self._flush_timer = self.set_interval(1 / FLUSH_HZ, self._drain_tokens, pause=True)
        self.set_interval(2.0, self._refresh_memory)
        if not self._store_given:
            self._open_store()
        if self.resume:
            self.resume_session(self.resume)
        self.chat_input.focus()
        self.call_after_refresh(self._replay_held_keys)
        # Torch is imported by the load worker, which starts only once the first frame is drawn.
        self.call_after_refresh(self._first_frame)

    async def action_quit(self) -> None:
        await self.end_session("quit", 0)

    async def end_session(self, reason: str = "quit", exit_code: int = 0) -> None:
        """Leave in order, whatever the cause (Ctrl+Q, a signal, the terminal gone): stop the
        reply and save it as stopped with its tokens, finish the queued session writes,
        release the model on the engine thread, then exit with ``exit_code``."""
        if self._ending:
            return
        self._ending = True
        self.exit_reason = reason
        reply = self.reply
        if reply is not None:
            reply.stop()
            await asyncio.to_thread(reply.done.wait, REPLY_STOP_WAIT_S)
            if reply.result is None:  # still inside a forward pass: keep what reached us
                from workbench.ui.reply import ReplyResult

                reply.result = ReplyResult(
                    reply.turn.content + "".join(s.text for s in reply.pending),
                    "cancelled",
                    {"interrupted": True},
                )
            self._finish_reply(reply)
        await asyncio.to_thread(self.sync.close, SAVE_WAIT_S)
        await asyncio.to_thread(self._release_model, RELEASE_WAIT_S)
        self.exit(return_code=exit_code)

    async def _on_message(self, message: Message) -> None:
        if isinstance(message, LATE_MESSAGES) and not self.is_running:
            return
        await super()._on_message(message)

    def on_unmount(self) -> None:
        """Any other way out (``app.exit()``, a test's end): still save the reply and the queue."""
        reply = self.reply
        if reply is not None and not reply.finished:
            reply.stop()
            reply.done.wait(REPLY_STOP_WAIT_S)
            if reply.result is None:
                from workbench.ui.reply import ReplyResult

                reply.result = ReplyResult(reply.turn.content, "cancelled", {"interrupted": True})
            self._record_end(reply)
        self.sync.close(SAVE_WAIT_S)
        switching.restore(self._switch_interval_before)
        if gcpolicy.full_passes_held():
            gcpolicy.release_full_passes()
        gcpolicy.thaw()

    def _first_frame(self) -> None:
        self.first_frame_at = time.perf_counter()
        marker = os.environ.get("WORKBENCH_FIRST_FRAME_FILE")
        if marker:  # for bench/ui.py and the end-to-end tests
            with open(marker, "w", encoding="utf-8") as handle:
                json.dump({"time": time.time(), "torch_imported": "torch" in sys.modules}, handle)
        if self.server_request is not None:
            self.attach_server(*self.server_request)
        elif self.autoload:
            self.load_model(self.load_settings)

    # --- widgets ----------------------------------------------------------------------

    @property
    def chart(self) -> CandidatesChart:
        return self._chart

    @property
    def conversation_view(self) -> ConversationView:
        return self._conversation_view

    @property
    def status(self) -> StatusLine:
        return self._status

    @property
    def chat_input(self) -> ChatInput:
        return self._chat_input

    @property
    def tabs(self) -> TabbedContent:
        return self._tabs

    @property
    def generating(self) -> bool:
        return self.reply is not None

    @property
    def model_ready(self) -> bool:
        """A model is loaded (or a server attached) and no other is on its way to replace it."""
        return (self.loaded is not None or self.server is not None) and self._loading is None

    @property
    def _chooser(self) -> StepChooser | None:
        """The running reply's StepChooser (None when nothing is generated)."""
        return self.reply.chooser if self.reply is not None else None

    def notify(self, message: str, *, title: str = "", **kwargs: Any) -> None:
        """Every toast is data: no markup, no control characters (titles, errors and file
        names in them come from outside)."""
        kwargs["markup"] = False
        super().notify(safe_text(str(message)), title=safe_line(str(title)), **kwargs)

    # --- actions ----------------------------------------------------------------------

    def action_new_chat(self) -> None:
        if self.reply is not None:
            self.reply.stop()  # it ends and is saved as stopped in the background
        self._waiting_for_model = None
        self.conversation = Conversation()
        self.sync.new_session()
        self._editing = None
        self._set_input_placeholder()
        self._show_conversation()
        self.chart.show_step(None, "Waiting for a token…")
        self.status.update_info(context_used=0, activity="")
        self._update_prompt_view()
        self.notify("Started a new chat.")

    def action_copy(self) -> None:
        """Copy the reply under the token cursor, else the last reply (OSC 52: works over SSH)."""
        turn, _ = self.conversation_view.selected
        turn = turn or self.conversation.last("assistant")
        if turn is None or not turn.content:
            self.notify("There is no reply to copy yet.", severity="warning")
            return
        self.copy_to_clipboard(turn.content)
        self.notify(f"Copied the reply ({len(turn.content)} characters).", timeout=COPIED_TOAST_S)

    def action_toggle_completion_mode(self) -> None:
        """Chat (with the chat template) or completion (raw text, continued as tutorials do).

        An empty chat just changes mode; one with messages asks first, since the other mode
        starts a new chat (the old one stays in F5 Sessions)."""
        if self.generating:
            self.notify("Wait for the reply (or press Esc) before switching modes.", severity="warning")
            return
        if not self.conversation.path():
            self._switch_mode()
            return
        from workbench.ui.screens.dialogs import ConfirmScreen

        target = "chat mode" if self.completion_mode else "completion mode"
        question = (
            f"Switch to {target}? That starts a new, empty "
            f"{'chat' if self.completion_mode else 'document'}; this one stays in F5 Sessions."
        )

        def answered(yes: bool | None) -> None:
            if yes and not self.generating:
                self.action_new_chat()
                self._switch_mode()

        self.push_screen(ConfirmScreen(question, yes=f"Start {target}", no="Stay"), answered)

    def _switch_mode(self) -> None:
        self.completion_mode = not self.completion_mode
        self.conversation_view.set_completion_mode(self.completion_mode)
        self._set_input_placeholder()
        self.sync.update_settings(ui=self._session_ui())
        self.notify(
            "Completion mode: no chat template; type text (e.g. 'The capital of France is') and the model continues it."
            if self.completion_mode
            else "Chat mode: messages go through the model's chat template."
        )
        self._update_prompt_view()

    def action_toggle_heatmap(self) -> None:
        on = not self.conversation_view.heatmap
        self.conversation_view.set_heatmap(on)
        self.notify("Heat map on: tokens coloured by probability." if on else "Heat map off.")

    def action_help(self) -> None:
        from workbench.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Palette -> Screenshot: an SVG of the screen, saved and its path shown.

        Textual's own saves into the Downloads folder and only said "Failed to save screenshot"
        where there is none; this saves into paths.screenshots_dir(), creating it."""
        directory = Path(path) if path else paths.screenshots_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(directory), time_format)
        except OSError as exc:
            self.notify(f"Could not save it: {exc}", title="Screenshot", severity="error", timeout=10)
            return None
        self.notify(f"Saved {saved}", title="Screenshot", timeout=8)
        return None

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, callback in palette_commands(self):
            yield SystemCommand(title, help_text, callback)

    # --- token selection ------------------------------------------------------------

    def on_conversation_view_token_selected(self, message: ConversationView.TokenSelected) -> None:
        if message.step is None:  # the cursor left: the chart keeps what it shows
            return
        turn = message.turn
        if turn is None or self.conversation.turns.get(turn.id) is not turn:
            return  # sent by a view of the chat left behind (another session opened since)
        caption = f"Token {message.step.index + 1}/{len(turn.steps)} of the reply"
        fork = self.fork_caption(turn, message.step.index)  # "fork: branch 2/3" where siblings part
        self.chart.end_preview()  # the cursor moved (a key, a click): the chart follows it
        self.chart.show_step(message.step, f"{caption} · {fork}" if fork else caption)

    def on_conversation_view_token_hovered(self, message: ConversationView.TokenHovered) -> None:
        """The mouse on a token previews its candidates; off the tokens, the chart goes back."""
        turn, step = message.turn, message.step
        if step is None or turn is None or self.conversation.turns.get(turn.id) is not turn:
            self.chart.end_preview()
            return
        self.chart.preview_step(step, f"Token {step.index + 1}/{len(turn.steps)} under the mouse")

    # --- helpers --------------------------------------------------------------------

    def _show_conversation(self) -> None:
        """Re-render the active branch (after sending, switching branches, resuming)."""
        turns = self.conversation.path()
        branches = {t.id: self.conversation.sibling_position(t.id) for t in turns}
        view = self.conversation_view
        shown = [v.turn.id for v in view.views()]
        if shown == [t.id for t in turns[: len(shown)]] and len(turns) >= len(shown):
            for turn in turns[len(shown) :]:
                if turn.role != "system":
                    view.add_turn(turn, branches[turn.id])
            for existing in view.views():
                existing.branch = branches.get(existing.turn.id, (1, 1))
                existing.refresh_body()
        else:
            view.show_turns(turns, branches)
        self._mark_forks()
        self._update_prompt_view()

    def _update_prompt_view(self) -> None:
        """Refresh the tokenizer tab's view of the exact prompt: now if that tab is showing,
        else when it is next shown (tokenizing a long conversation is not free)."""
        self._update_system_line()  # the chat's first line (ui/chatting.py)
        self._prompt_view_stale = True
        if self.tabs.active == "tokenizer":
            self._refresh_prompt_view()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "tabs" and event.pane.id == "tokenizer" and self._prompt_view_stale:
            self._refresh_prompt_view()

    def _refresh_prompt_view(self) -> None:
        if self.loaded is None:
            return
        self._prompt_view_stale = False
        leaf = self.conversation.leaf
        prompt = None
        if leaf is not None:
            try:
                prompt = self._prompt_builder(self.conversation.turns[leaf])(self.loaded.tokenizer)
            except Exception:  # noqa: BLE001 - a template error must not break the view
                prompt = None
        self._tokenizer_pane.set_chat_prompt(prompt)
