"""What the app's mixins (chatting.py, stepmode.py, model_loading.py, tab_focus.py,
settings_apply.py and the others) use of the app, declared for the type checker.

At run time ``AppHost`` is plain ``object``: the mixins gain nothing and the app (app.py) sets
up this state itself. Under a type checker the mixins derive from this declaration, so their
use of the app is checked, and so is the app against it (it overrides every name below).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer
    from textual.widgets import TabbedContent

    from workbench.backends.local import DecoderSlot
    from workbench.backends.server.backend import ServerBackend
    from workbench.config import UiSettings
    from workbench.conversation import Conversation, Turn
    from workbench.engine.loading import LoadedModel
    from workbench.engine.settings import LoadSettings, SamplingSettings
    from workbench.engine.stepping import StepChooser
    from workbench.engine.steps import TokenStep
    from workbench.ui.panes.chat import ChatInput
    from workbench.ui.panes.settings import SettingsPane
    from workbench.ui.panes.tokenizer import TokenizerPane
    from workbench.ui.persistence import SessionSync
    from workbench.ui.reply import Reply
    from workbench.ui.widgets.chart import CandidatesChart
    from workbench.ui.widgets.conversation import ConversationView
    from workbench.ui.widgets.key_bar import KeyBar
    from workbench.ui.widgets.status import StatusLine

    class AppHost(App[int]):
        conversation: Conversation
        sync: SessionSync
        loaded: LoadedModel | None
        server: ServerBackend | None
        server_request: tuple[str, str | None] | None
        first_frame_at: float | None
        load_settings: LoadSettings
        sampling: SamplingSettings
        ui_settings: UiSettings
        step_mode: bool
        play_delay: float
        completion_mode: bool
        reply: Reply | None
        decoders: DecoderSlot
        _waiting_for_model: Turn | None
        _editing: Turn | None
        _flush_timer: Timer
        _loading: LoadSettings | None
        _loaded_settings: LoadSettings | None
        _ending: bool
        _settings_pane: SettingsPane
        _tokenizer_pane: TokenizerPane
        _key_bar: KeyBar

        @property
        def chart(self) -> CandidatesChart: ...
        @property
        def conversation_view(self) -> ConversationView: ...
        @property
        def status(self) -> StatusLine: ...
        @property
        def chat_input(self) -> ChatInput: ...
        @property
        def tabs(self) -> TabbedContent: ...
        @property
        def generating(self) -> bool: ...
        @property
        def model_ready(self) -> bool: ...
        @property
        def _chooser(self) -> StepChooser | None: ...
        def action_show_tab(self, tab: str) -> None: ...
        def _show_conversation(self) -> None: ...
        def _update_prompt_view(self) -> None: ...
        def _session_ui(self) -> dict[str, Any]: ...
        def _save_config(self) -> None: ...
        def attach_server(self, url: str, model: str | None = None) -> None: ...
        def detach_server(self) -> None: ...
        def _update_chat_header(self) -> None: ...
        def _set_input_placeholder(self) -> None: ...
        def _show_paused(self, paused: bool) -> None: ...
        def _start_reply(
            self, parent: Turn, resume: list[TokenStep] | None = None, forced_token: int | None = None
        ) -> None: ...
        def action_new_chat(self) -> None: ...
        def _mark_forks(self) -> None: ...
        def fork_caption(self, turn: Turn, index: int) -> str: ...
        def _cursor_after_switch(self, old: Turn, new: Turn, cursor_index: int | None) -> None: ...
        def show_branch(self, turn_id: int, token: int | None = None) -> None: ...
        def open_search_hit(self, message_id: int, search: str) -> None: ...
        def load_model(self, settings: LoadSettings) -> None: ...

else:
    AppHost = object
