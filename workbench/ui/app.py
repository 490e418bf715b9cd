from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from workbench.config import Config
from workbench.engine.settings import LoadSettings


class WorkbenchApp(App):
    def __init__(self, config: Config, load: LoadSettings, resume: str | None = None) -> None:
        super().__init__()
        self.config_data = config
        self.load_settings = load

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"workbench: model {self.load_settings.model}", markup=False)
        yield Footer()
