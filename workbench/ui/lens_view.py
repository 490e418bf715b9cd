"""The app's part of the logit lens: ``l`` on a reply's token opens the lens of that token.

The ids are the reply's prompt (built as it was for the reply, from the turns before it) and
the reply's tokens; the lens of token i is the prediction of the reply's token i from the
prompt and the tokens before it. The Score tab opens the same screen for a scored text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import WorkbenchError
from workbench.ui.host import AppHost

if TYPE_CHECKING:
    from workbench.conversation import Turn


class LensViewMixin(AppHost):
    if TYPE_CHECKING:

        def _prompt_builder(self, upto: Turn) -> Callable[[Any], Any]: ...

    def action_logit_lens(self) -> None:
        """The lens of the token under the chat's token cursor."""
        turn, step = self.conversation_view.selected
        if turn is None or step is None or not turn.is_reply:
            self.notify(
                "Put the token cursor on a reply's token first (Tab, then \u2190 \u2192).", severity="warning"
            )
            return
        loaded = self.loaded
        if loaded is None:
            self.notify("No model is loaded yet.", severity="warning")
            return
        parent = self.conversation.turns.get(turn.parent) if turn.parent is not None else None
        if parent is None:
            self.notify("This reply has no prompt to look at.", severity="warning")
            return
        try:
            prompt = self._prompt_builder(parent)(loaded.tokenizer)
        except WorkbenchError as exc:
            self.notify(f"Cannot build the reply's prompt: {exc}", severity="error")
            return
        prompt_ids = list(prompt.ids)
        ids = prompt_ids + [s.token_id for s in turn.steps]
        # [ walks back into the prompt too: the same cached pass holds every position of it
        start = len(prompt_ids)
        self.open_lens(ids, start + step.index, "the reply", numbered_from=start)

    def open_lens(
        self, ids: Sequence[int], target: int, where: str, first: int = 1, numbered_from: int = 0
    ) -> None:
        """Show the lens of the prediction of ``ids[target]``; ``[`` stops at ``first``; the
        title counts tokens from ``numbered_from`` (token 1)."""
        loaded = self.loaded
        if loaded is None:
            self.notify("No model is loaded yet.", severity="warning")
            return
        from workbench.ui.screens.lens import LensScreen

        self.push_screen(LensScreen(loaded, ids, target, where, first=first, numbered_from=numbered_from))
