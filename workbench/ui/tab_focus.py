"""The app's part of switching tabs: F2-F12 show a tab and focus its field, and no typed key
is lost or handed to the wrong widget on the way.

Keys are held (not handled) while nothing should take them: typed before the first frame
(until the message box has the focus) or just after a tab key (until the new tab's field has
it). They are replayed, in order, once it does.
"""

from __future__ import annotations

import contextlib

from textual import events

from workbench.ui.host import AppHost

# Each tab's field: where F2-F12 put the focus (the chat's is the message box).
FIRST_FIELD = {
    "chat": "#chat-input",
    "tokenizer": "#tok-input",
    "settings": "#set-model",
    "classify": "#cls-text",
    "fill": "#fill-text",
    "score": "#score-text",
    "diff": "#diff-text",
}


class TabFocusMixin(AppHost):
    _held_keys: list[events.Key] | None  # set up by the app: [] until its first frame

    async def on_event(self, event: events.Event) -> None:
        # Keys typed before the first frame reach the app before anything has the focus (the
        # terminal hands over what was typed as soon as it is in raw mode): they would go to the
        # screen and be lost. Keys typed right after F4 would go to the field losing the focus.
        # Hold them and replay them once the right widget has the focus.
        if self._held_keys is not None and isinstance(event, events.Key) and not event.is_forwarded:
            self._held_keys.append(event)
            return
        await super().on_event(event)

    async def _replay_held_keys(self) -> None:
        keys, self._held_keys = self._held_keys or [], None
        # In order: this runs on the app's queue, so no newer key is handled meanwhile.
        for index, key in enumerate(keys):
            held = self._holding()
            if held is not None:  # that key switched tabs: hold the rest again
                held.extend(keys[index:])
                return
            await super().on_event(key)

    def _holding(self) -> list[events.Key] | None:
        # (read through a call: the type checker would take the None set above as still so)
        return self._held_keys

    def action_show_tab(self, tab: str) -> None:
        tabs = self.tabs
        if tabs.active == tab:
            focused = self.focused
            if focused is None or tabs.get_pane(tab) not in focused.ancestors_with_self:
                self.call_after_refresh(self._focus_first_in, tab)  # F2 again: back to its field
            return
        # Drop focus first: a focused widget left in the old pane would hand focus to its
        # neighbour there, and TabbedContent re-activates the pane of whatever gets focus.
        self.set_focus(None)
        tabs.active = tab
        if self._held_keys is None:
            self._held_keys = []  # typed from now on: for the new tab's field
        self.call_after_refresh(self._focus_first_in, tab)

    async def _focus_first_in(self, tab: str) -> None:
        if tab == "chat" and self._chooser is not None and self._chooser.waiting is not None:
            self.set_focus(self.chart)  # a paused token: the chart holds the keys to choose it
        else:
            with contextlib.suppress(Exception):  # a pane without that widget: leave focus alone
                self.set_focus(self.query_one(FIRST_FIELD[tab]))
        await self._replay_held_keys()

    def _tokenizer_action(self, name: str) -> None:
        """A tokenizer tab's action from anywhere (the palette): the tab is shown first."""
        self.action_show_tab("tokenizer")
        getattr(self._tokenizer_pane, f"action_{name}")()
