"""The app's part of settings: a change in F4 (or the palette's theme) reaches the app, the
running reply, the session's record and config.toml.

config.toml is only ever written with a model that loaded: a failed load must not leave the
next start without one (issue 8, defect 9).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from workbench.config import Config, save_config
from workbench.ui.host import AppHost
from workbench.ui.panes.settings import SettingsPane


class SettingsApplyMixin(AppHost):
    save_settings: bool

    def on_settings_pane_sampling_changed(self, message: SettingsPane.SamplingChanged) -> None:
        self.sampling = message.settings
        if self.reply is not None:  # from the next token on; a paused token is re-weighted at once
            self.reply.update_sampling(self.sampling)
        self.sync.update_settings(sampling=self.sampling)
        self._update_chat_header()
        self._save_config()

    def on_settings_pane_ui_changed(self, message: SettingsPane.UiChanged) -> None:
        old, self.ui_settings = self.ui_settings, message.ui
        if message.ui.theme != old.theme:
            self._apply_theme(message.ui.theme)
        if message.ui.heatmap != old.heatmap:
            self.conversation_view.set_heatmap(message.ui.heatmap)
        if message.ui.top_k_shown != old.top_k_shown and self.reply is not None:
            self.reply.set_top_k(message.ui.top_k_shown)
        if message.ui.system_prompt != old.system_prompt:
            self._update_prompt_view()
        self.sync.update_settings(ui=self._session_ui())
        self._save_config()

    def on_settings_pane_load_requested(self, message: SettingsPane.LoadRequested) -> None:
        if self.server is not None:  # back to a model in this process
            self.detach_server()
        self.load_model(message.load)  # saved to the config and the session once it has loaded

    def on_settings_pane_server_requested(self, message: SettingsPane.ServerRequested) -> None:
        if self.reply is not None:
            self.reply.stop()
        self.attach_server(message.url, message.model)

    def _apply_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name
        else:
            self.notify(f"There is no theme {name!r}; using {self.theme}.", severity="warning")

    def watch_theme(self, theme: str) -> None:
        # changed from the palette (on_mount's _apply_theme sets the configured one: no change)
        if theme != self.ui_settings.theme:
            self.ui_settings = replace(self.ui_settings, theme=theme)
            self._save_config()
        view = getattr(self, "_conversation_view", None)
        if view is not None and view.heatmap:
            view.set_heatmap(True)  # the heat map's colours come from the theme

    def _session_ui(self) -> dict[str, Any]:
        return {
            "system_prompt": self.ui_settings.system_prompt,
            "top_k_shown": self.ui_settings.top_k_shown,
            "mode": "completion" if self.completion_mode else "chat",
        }

    def _save_config(self) -> None:
        if not self.save_settings:
            return
        model = self._loaded_settings or self.load_settings  # never a model that failed to load
        config = Config(model=model, sampling=self.sampling, ui=self.ui_settings)
        try:
            save_config(config)
        except OSError as exc:
            self.notify(f"Could not save settings: {exc}", severity="error")
