"""The app's side of comparing branches: fork marks, the cursor kept at the fork when
switching, the comparison screen, and opening a search hit that lives in another branch.

A mixin of the app; the pure work (where replies part) is in workbench/branches.py.
"""

from __future__ import annotations

from workbench.branches import fork_index, fork_note, forks, match_offset, reply_siblings, token_at
from workbench.conversation import Turn
from workbench.ui.host import AppHost


class BranchViewMixin(AppHost):
    def _mark_forks(self) -> None:
        """Underline, in each shown reply, the tokens where its sibling branches part."""
        for view in self.conversation_view.views():
            turn = view.turn
            siblings = reply_siblings(self.conversation, turn.id) if turn.is_reply else []
            if len(siblings) < 2 or turn.status == "streaming":
                view.set_forks({})
                continue
            for sibling in siblings:
                self.sync.load_steps(sibling)  # stored replies read their tokens when first needed
            view.set_forks(forks(self.conversation, turn.id))

    def fork_caption(self, turn: Turn, index: int) -> str:
        """ "fork: branch 2/3" when sibling branches part from ``turn`` at token ``index``."""
        view = self.conversation_view.view_for(turn.id)
        positions = view.forks.get(index, []) if view is not None else []
        return fork_note(positions, len(reply_siblings(self.conversation, turn.id)))

    def _cursor_after_switch(self, old: Turn, new: Turn, cursor_index: int | None) -> None:
        """After [ / ]: the token cursor and the chart go to the token where the two
        branches part (not back to token 1); between replies without tokens, as before."""
        if not new.is_reply or not new.steps:
            return
        index = fork_index(old.steps, new.steps) if old.is_reply and old.steps else None
        if index is None:
            index = cursor_index if cursor_index is not None else 0
        index = min(index, len(new.steps) - 1)
        if self.conversation_view.has_focus:
            self.conversation_view.select_turn(new.id, index)  # the chart follows the cursor
            return
        step = new.steps[index]
        caption = f"Token {index + 1}/{len(new.steps)} of the reply"
        note = self.fork_caption(new, index)
        self.chart.show_step(step, f"{caption} · {note}" if note else caption)

    # --- the comparison ---------------------------------------------------------------

    def action_compare_branches(self) -> None:
        """Two sibling replies side by side (stacked when narrow), from their fork."""
        turn, _ = self.conversation_view.selected
        if turn is None or not turn.is_reply:
            turn = self._reply_with_siblings()
        siblings = reply_siblings(self.conversation, turn.id) if turn is not None else []
        if turn is None or len(siblings) < 2:
            self.notify(
                "This reply has no other branches to compare (pick a candidate with 1-9 on a token, or Ctrl+R).",
                severity="warning",
            )
            return
        for sibling in siblings:
            self.sync.load_steps(sibling)
        from workbench.ui.screens.compare import CompareScreen

        def closed(show: int | None) -> None:
            if show is not None and show != turn.id:
                self.show_branch(show)

        self.push_screen(CompareScreen(self.conversation, turn.id), closed)

    def _reply_with_siblings(self) -> Turn | None:
        """The last reply of the shown branch that has sibling replies."""
        for turn in reversed(self.conversation.path()):
            if turn.is_reply and len(reply_siblings(self.conversation, turn.id)) > 1:
                return turn
        return None

    def show_branch(self, turn_id: int, token: int | None = None) -> None:
        """Make the branch through ``turn_id`` the shown one; with ``token``, put the token
        cursor there (a reply), else at the fork with the reply shown before."""
        if self.generating:
            self.notify("Wait for the reply (or press Esc) before switching branches.", severity="warning")
            return
        target = self.conversation.turns.get(turn_id)
        if target is None:
            return
        before = self.conversation.path()
        old = next((t for t in before if t.parent == target.parent and t.id != turn_id), None)
        self.conversation.select(turn_id)
        self.sync.set_leaf(self.conversation.leaf)
        for shown in self.conversation.path():
            self.sync.load_steps(shown)
        self._show_conversation()
        position, count = self.conversation.sibling_position(turn_id)
        self.status.update_info(activity=f"branch {position}/{count}")
        if target.is_reply and target.steps:
            if token is None and old is not None:
                token = fork_index(old.steps, target.steps) if old.is_reply else None
            self.conversation_view.focus()
            self.call_after_refresh(self.conversation_view.select_turn, turn_id, token or 0)

    # --- search hits --------------------------------------------------------------------

    def open_search_hit(self, message_id: int, search: str) -> None:
        """A session search matched ``message_id``: show its branch, the cursor on the match."""
        turn = self.conversation.turns.get(message_id)
        if turn is None:  # the session on screen: its turns keep the ids they were made with
            turn = next(
                (
                    t
                    for t in self.conversation.turns.values()
                    if t.id < 0 and self.sync.stored_id(t.id) == message_id
                ),
                None,
            )
        if turn is None:
            return
        self.sync.load_steps(turn)
        token = None
        if turn.is_reply and turn.steps:
            offset = match_offset(turn.content, search)
            token = token_at(turn.steps, offset) if offset is not None else None
        if turn in self.conversation.path() and token is None:
            return  # already shown, nothing to point at
        self.show_branch(turn.id, token)
