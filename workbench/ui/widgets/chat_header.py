"""The chat's header: a line (two at most) above the conversation with the sampling settings in effect
("temp 0.8 · top-k 40 · top-p 0.95 · min-p 0.05 · stop "User:"") and the system prompt.

It follows the Settings pane and the session that is open; a click opens the Settings tab.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widgets import Static

from workbench.engine.settings import SamplingSettings, format_stop_field
from workbench.safetext import safe_line

SYSTEM_SHOWN = 30  # characters of the system prompt in the header (the chat's first line has all)


def sampling_summary(settings: SamplingSettings) -> str:
    """The settings in a few words; a warper that is off is left out."""
    parts = []
    if settings.greedy:
        parts.append("greedy")
    else:
        parts.append(f"temp {settings.temperature:g}")
        if settings.top_k:
            parts.append(f"top-k {settings.top_k}")
        if settings.top_p < 1:
            parts.append(f"top-p {settings.top_p:g}")
        if settings.min_p > 0:
            parts.append(f"min-p {settings.min_p:g}")
    if settings.repetition_penalty != 1:
        parts.append(f"rep {settings.repetition_penalty:g}")
    if settings.seed is not None:
        parts.append(f"seed {settings.seed}")
    if settings.stop:
        parts.append("stop " + " ".join(f'"{format_stop_field([s])}"' for s in settings.stop))
    parts.append(f"max {settings.max_new_tokens}")
    return " · ".join(parts)


def header_text(settings: SamplingSettings, system_prompt: str = "", completion: bool = False) -> Text:
    text = Text(safe_line(sampling_summary(settings)))
    system = system_prompt.strip()
    if system and not completion:  # completion mode sends no system prompt
        first = system.splitlines()[0]
        shown = first if first == system and len(first) <= SYSTEM_SHOWN else first[: SYSTEM_SHOWN - 1] + "…"
        text.append(" · system ", Style(dim=True))
        text.append(safe_line(shown), Style(italic=True))
    return text


class ChatHeader(Static):
    """The sampling settings (and system prompt) the next reply uses: one line, two when narrow."""

    DEFAULT_CSS = """
    ChatHeader {
        height: auto; max-height: 2; padding: 0 1; color: $text-muted; background: $boost;
        text-overflow: ellipsis;
    }
    ChatHeader:hover { color: $text; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.tooltip = "The settings the next reply uses; click to change them (F4)"

    def show(self, settings: SamplingSettings, system_prompt: str = "", completion: bool = False) -> None:
        text = header_text(settings, system_prompt, completion)
        if text != self.content:  # shown again at every reply: no whole-screen layout for nothing
            self.update(text)

    async def on_click(self, event: events.Click) -> None:
        event.stop()
        await self.run_action("app.show_tab('settings')")
