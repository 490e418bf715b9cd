"""The status line: model, device, dtype, speed, context, memory; a progress bar while loading."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from workbench.safetext import safe_line


@dataclass(frozen=True, slots=True)
class StatusInfo:
    model: str = "no model"
    device: str = ""
    dtype: str = ""
    tokens_per_second: float | None = None
    context_used: int = 0
    context_max: int | None = None
    memory: str = ""
    activity: str = ""  # "loading…", "generating", "stopped"…


class StatusLine(Horizontal):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; }
    StatusLine #status-text { width: 1fr; height: 1; padding: 0 1; }
    StatusLine ProgressBar { width: 30; height: 1; display: none; }
    StatusLine.loading ProgressBar { display: block; }
    StatusLine ProgressBar Bar { width: 18; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = StatusInfo()

    def compose(self) -> ComposeResult:
        # held, not queried: a late update while the app closes finds them still
        self._text = Static(id="status-text")
        self._bar = ProgressBar(total=100, show_eta=False, id="load-progress")
        yield self._text
        yield self._bar

    def on_mount(self) -> None:
        self._render_info()

    def update_info(self, **changes: object) -> None:
        self.info = replace(self.info, **changes)  # type: ignore[arg-type]
        self._render_info()

    def show_progress(self, stage: str, fraction: float | None) -> None:
        self.add_class("loading")
        bar = self._bar
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(fraction * 100))
        self.update_info(activity=stage)

    def hide_progress(self) -> None:
        self.remove_class("loading")

    @property
    def text(self) -> str:
        return self._compose_text().plain

    def _compose_text(self) -> Text:
        info = self.info
        sep = (" │ ", Style(dim=True))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(safe_line(info.model), Style(bold=True))
        for part in (info.device, info.dtype):
            if part:
                text.append(*sep)
                text.append(part)
        if info.tokens_per_second is not None:
            text.append(*sep)
            text.append(f"{info.tokens_per_second:.1f} tok/s")
        if info.context_max:
            text.append(*sep)
            text.append(f"ctx {info.context_used}/{info.context_max}")
        if info.memory:
            text.append(*sep)
            text.append(info.memory)
        if info.activity:
            text.append(*sep)
            text.append(safe_line(info.activity), Style(italic=True, color="yellow"))
        return text

    def _render_info(self) -> None:
        if hasattr(self, "_text"):  # composed (it may not count as mounted yet in on_mount)
            # one line of fixed size: a repaint, never a layout pass
            self._text.update(self._compose_text(), layout=False)
