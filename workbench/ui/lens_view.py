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

    def _reply_ids(self, turn: Turn) -> tuple[list[int], int] | None:
        """The ids of a reply's prompt and the reply's tokens, and where the reply starts."""
        loaded = self.loaded
        parent = self.conversation.turns.get(turn.parent) if turn.parent is not None else None
        if loaded is None or parent is None:
            return None
        try:
            prompt = self._prompt_builder(parent)(loaded.tokenizer)
        except WorkbenchError as exc:
            self.notify(f"Cannot build the reply's prompt: {exc}", severity="error")
            return None
        prompt_ids = list(prompt.ids)
        return prompt_ids + [s.token_id for s in turn.steps], len(prompt_ids)

    def action_score_chat(self) -> None:
        """Score the chat as the model saw it: the selected (or last) reply's prompt, chat
        template and all, and the reply, in the Score tab."""
        turn, _ = self.conversation_view.selected
        turn = turn or self.conversation.last("assistant")
        if turn is None or not turn.steps:
            self.notify("There is no reply to score yet.", severity="warning")
            return
        found = self._reply_ids(turn)
        if found is None or self.loaded is None:
            self._no_local_model()
            return
        ids, _ = found
        from workbench.ui.panes.score import ScorePane

        text = self.loaded.tokenizer.decode(ids, skip_special_tokens=False)
        self.action_show_tab("score")
        self.query_one(ScorePane).score_tokens(ids, str(text))

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
            self._no_local_model()
            return
        found = self._reply_ids(turn)
        if found is None:
            return
        ids, start = found
        # [ walks back into the prompt too: the same cached pass holds every position of it
        self.open_lens(ids, start + step.index, "the reply", numbered_from=start)

    def open_lens(
        self, ids: Sequence[int], target: int, where: str, first: int = 1, numbered_from: int = 0
    ) -> None:
        """Show the lens of the prediction of ``ids[target]``; ``[`` stops at ``first``; the
        title counts tokens from ``numbered_from`` (token 1)."""
        loaded = self.loaded
        if loaded is None:
            self._no_local_model()
            return
        from workbench.ui.screens.lens import LensScreen

        self.push_screen(LensScreen(loaded, ids, target, where, first=first, numbered_from=numbered_from))

    def _no_local_model(self) -> None:
        if self.server is not None:  # the lens and scoring need the model itself
            self.notify(
                "The logit lens and scoring need the model's own weights (hidden states, every "
                "position's logits), which a server does not send: start without --server to use them.",
                severity="warning",
                timeout=10,
            )
        else:
            self.notify("No model is loaded yet.", severity="warning")
