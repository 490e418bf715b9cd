"""The app's side of saved sessions: opening the store, resuming, the F5 screen, write errors.

A mixin of the app. Writes go through ``self.sync`` (ui/persistence.py, its own thread).
"""

from __future__ import annotations

from typing import Any

from workbench.config import Config, UiSettings
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.safetext import safe_line
from workbench.ui.host import AppHost
from workbench.ui.messages import SessionWriteFailed
from workbench.ui.persistence import SessionSync


class SessionViewMixin(AppHost):
    def action_sessions(self) -> None:
        if self.sync.store is None:
            self.notify(
                "Sessions are not available: the session database could not be opened.", severity="error"
            )
            return
        from workbench.ui.screens.sessions import SessionsScreen

        screen = SessionsScreen(self.sync.store, self.sync.session_id)

        def opened(session_id: int | None) -> None:
            current_deleted = self.sync.session_id is not None and self.sync.session_id in screen.deleted_ids
            if session_id is not None and session_id != self.sync.session_id:
                if self.generating:
                    self.notify(
                        "Stop the reply being generated (Esc) before opening another session.",
                        severity="warning",
                    )
                    return
                if not self.resume_session(session_id):
                    return
            elif current_deleted:
                self.action_new_chat()
                return
            if session_id is not None and screen.opened_hit is not None:
                # a search hit: show its branch (maybe not the saved one), the cursor on the match
                self.open_search_hit(screen.opened_hit, screen.search)

        self.push_screen(screen, opened)

    def resume_session(self, ref: str | int) -> bool:
        """Open a saved session: its messages, settings and model (loaded if it differs)."""
        try:
            record, conversation = self.sync.open_session(ref)
        except WorkbenchError as exc:
            self.notify(str(exc), title="Could not open the session", severity="error", timeout=15)
            return False
        self.conversation = conversation
        self.completion_mode = (record.ui or {}).get("mode") == "completion"
        self.conversation_view.set_completion_mode(self.completion_mode)
        try:
            if record.sampling:
                self.sampling = SamplingSettings.from_dict(record.sampling)
            ui = dict(record.ui or {})
            self.ui_settings = UiSettings.from_dict({**self._ui_dict(), **ui})
            load = LoadSettings.from_dict(record.load) if record.load else self.load_settings
        except WorkbenchError as exc:
            self.notify(f"Some saved settings were not valid: {exc}", severity="warning")
            load = self.load_settings
        self._settings_pane.set_config(Config(model=load, sampling=self.sampling, ui=self.ui_settings))
        self._show_conversation()
        self._show_last_token()  # not the numbers of the chat left behind
        self.notify(f"Resumed “{safe_line(record.title or 'untitled')}”.")
        if self._resume_server(record.provenance or {}):
            return True
        if load != self.load_settings:
            self.load_settings = load  # loaded at the first frame, unless a model runs already
            if self.loaded is not None or self._loading is not None:
                self.load_model(load)
        return True

    def _resume_server(self, provenance: dict[str, Any]) -> bool:
        """A session that ran on a server goes back to that server (its URL and model as
        saved; the key comes from the environment again). True when it does."""
        if provenance.get("backend") != "server" or not isinstance(provenance.get("url"), str):
            return False
        url, model = provenance["url"], provenance.get("server_model")
        model = model if isinstance(model, str) else None
        server = self.server
        if server is not None and server.public_url == url and (model is None or server.model == model):
            return True  # attached to it already
        if self.first_frame_at is None:
            self.server_request = (url, model)  # attached at the first frame, instead of a model load
        else:
            self.attach_server(url, model)
        return True

    def _show_last_token(self) -> None:
        """The chart shows the opened session's last reply's last token, or waits."""
        reply = self.conversation.last("assistant")
        if reply is None or not reply.steps:
            self.chart.show_step(None, "Waiting for a token…")
            return
        n = len(reply.steps)
        self.chart.show_step(reply.steps[-1], f"Token {n}/{n} of the last reply")

    def _ui_dict(self) -> dict[str, Any]:
        ui = self.ui_settings
        return {
            "theme": ui.theme,
            "top_k_shown": ui.top_k_shown,
            "system_prompt": ui.system_prompt,
            "heatmap": ui.heatmap,
        }

    def _open_store(self) -> None:
        from workbench.sessions.store import SessionStore

        try:
            self.sync = SessionSync(SessionStore(), on_error=self._post_write_error)
        except (WorkbenchError, OSError) as exc:
            self.sync = SessionSync(None, on_error=self._post_write_error)
            self.notify(
                f"Sessions will not be saved: {exc}", title="Session database", severity="error", timeout=15
            )

    def _post_write_error(self, error: str) -> None:
        """From the session writer thread: report on the UI thread."""
        self.post_message(SessionWriteFailed(error))

    def on_session_write_failed(self, message: SessionWriteFailed) -> None:
        self.sync.take_error()
        self.notify(
            f"Could not save: {message.error}", title="Session database", severity="error", timeout=15
        )
