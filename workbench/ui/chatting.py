"""Sending messages and generating replies: the reply worker, the token drain, branches.

A mixin of the app (see app.py for the state it sets up). Every reply runs through the
engine's StepChooser, so any reply can be paused and stepped (stepmode.py); with step mode
off the chooser plays without delay.

Branches: regenerating, editing a message, or continuing from a token of a reply with
another candidate adds a sibling to the conversation tree; nothing is discarded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from workbench.conversation import Turn
from workbench.engine import gcpolicy
from workbench.engine.steps import TokenStep
from workbench.ui.host import AppHost
from workbench.ui.messages import GenerationEnded, ReplyPrompted, StepWaiting
from workbench.ui.widgets.chat_header import ChatHeader

if TYPE_CHECKING:
    from workbench.engine.prompts import Prompt
    from workbench.ui.reply import Reply

IDLE_GC_AFTER_S = 1.0  # after a reply ends: when the held-back full GC pass runs
LIVE_CHART_AFTER_S = 0.02  # while streaming: the chart's update, after the frame with the new text
CHAT_PLACEHOLDER = "Message {name}… Enter sends"  # Ctrl+J (new line) is on the border
COMPLETION_PLACEHOLDER = "Text to continue… (Enter continues; empty Enter continues the document)"


class ChatMixin(AppHost):
    """Needs what ui/host.py declares: conversation, sync, loaded, model_ready, sampling, ui_settings,
    step_mode, play_delay, completion_mode, reply (the ui/reply.py Reply being generated), decoders,
    _waiting_for_model, _editing, and the widget properties chat_input, chart, conversation_view,
    status, tabs."""

    _status_at = 0.0  # when the status line's speed was last updated
    _prompt_tokens = 0  # the running reply's prompt length, for the context figure

    # --- sending --------------------------------------------------------------------

    def on_input_submitted(self, event: Any) -> None:
        # (a plain handler: Textual collects @on handlers only from MessagePump classes, not mixins)
        if event.input.id == "chat-input":
            event.stop()
            self.send(event.value)

    on_chat_input_submitted = on_input_submitted  # the multi-line message box posts its own message

    def send(self, text: str) -> None:
        """Send a message (or the edited one), or in completion mode add text and continue."""
        chat_input = self.chat_input
        continuing = self.completion_mode and not text.strip() and self.conversation.leaf is not None
        if not text.strip() and not continuing:
            self.notify(
                "Type a message first." if not self.completion_mode else "Type some text to continue.",
                severity="warning",
            )
            return
        if self.generating or self._waiting_for_model is not None:
            self.notify("A reply is still being generated: press Esc to stop it first.", severity="warning")
            return
        parent: int | None | Literal["leaf"] = "leaf"
        if self._editing is not None:
            parent = self._editing.parent  # the edit becomes a sibling: the old message stays as a branch
            self._editing = None
        chat_input.value = ""
        self._set_input_placeholder()
        provenance = (
            self.loaded.provenance()
            if self.loaded is not None
            else self.server.describe()
            if self.server is not None
            else None
        )
        self.sync.ensure_session(self.load_settings, self.sampling, self._session_ui(), provenance)
        if continuing:
            assert self.conversation.leaf is not None  # (continuing requires a leaf)
            turn = self.conversation.turns[self.conversation.leaf]
        else:
            turn = self.conversation.add("user", text, parent=parent)
            self.sync.save_user(turn)
            self._show_conversation()
        if not self.model_ready:
            # loading (or replacing) the model: answered by the new model once it is ready
            self._waiting_for_model = turn
            self.notify("The model is still loading; your message will be answered when it is ready.")
            return
        self._start_reply(turn)

    def _set_input_placeholder(self) -> None:
        from workbench.ui.server_attach import short_name

        chat_input = self.chat_input
        name = (
            self.loaded.source.short_name
            if self.loaded is not None
            else short_name(self.server.model)
            if self.server is not None
            else "the model"
        )
        chat_input.placeholder = (
            COMPLETION_PLACEHOLDER if self.completion_mode else CHAT_PLACEHOLDER.format(name=name)
        )

    # --- the prompt -----------------------------------------------------------------

    def _prompt_builder(self, upto: Turn) -> Callable[[Any], Prompt]:
        """A snapshot of the conversation up to ``upto``, turned into ids in the worker."""
        from workbench.engine import prompts

        if self.completion_mode:
            pieces: list[str | list[int]] = []
            for turn in self.conversation.path(upto.id):
                if turn.is_reply and turn.steps:
                    pieces.append([s.token_id for s in turn.steps if not s.is_end])
                else:
                    pieces.append(turn.content)
            return lambda tokenizer: prompts.document_prompt(tokenizer, pieces)
        messages = self.conversation.chat_messages(self.ui_settings.system_prompt, upto=upto.id)
        return lambda tokenizer: prompts.chat_prompt(tokenizer, messages)

    def _request_text(self, upto: Turn) -> tuple[list[dict[str, str]] | None, str | None]:
        """The conversation up to ``upto`` as a server takes it: (chat messages, document text)."""
        if self.completion_mode:
            return None, "".join(turn.content for turn in self.conversation.path(upto.id))
        return self.conversation.chat_messages(self.ui_settings.system_prompt, upto=upto.id), None

    def _update_chat_header(self) -> None:
        """The line above the chat: the sampling settings and system prompt the next reply uses."""
        header: ChatHeader | None = getattr(self, "_chat_header", None)  # (held by the app from its mount)
        if header is not None:
            header.show(self.sampling, self.ui_settings.system_prompt, self.completion_mode)

    def _update_system_line(self) -> None:
        """The chat's first line: the system prompt in effect (the user's, else the chat
        template's own default) and what the template does with it (merged, refused...)."""
        from workbench.engine import prompts

        self._update_chat_header()
        line = self.conversation_view.system_line
        loaded = self.loaded
        if loaded is None or self.completion_mode:
            line.set_system("")
            return
        system = self.ui_settings.system_prompt if self.ui_settings.system_prompt.strip() else ""
        try:
            notice = prompts.system_notice(loaded.tokenizer, system)
            default = None if system else prompts.template_default_system(loaded.tokenizer)
        except Exception:  # noqa: BLE001 - a broken template shows its error when a reply starts
            notice, default = None, None
        if default:
            line.set_system(default, notice, from_template=True)
        else:
            line.set_system(system, notice)

    # --- replies --------------------------------------------------------------------

    def _start_reply(
        self, parent: Turn, resume: list[TokenStep] | None = None, forced_token: int | None = None
    ) -> None:
        """Generate a reply after ``parent``; ``resume``/``forced_token`` branch from a token."""
        from workbench.backends.local import LocalBackend
        from workbench.backends.reply_job import ReplyBackend
        from workbench.ui.reply import Reply

        backend: ReplyBackend
        server = self.server
        if (
            server is not None
            and (resume or forced_token is not None)
            and not server.capabilities["branch"].supported
        ):
            reason = server.capabilities["branch"].reason
            self.notify(
                f"Branching is not available on this server: {reason}", severity="warning", timeout=10
            )
            return
        if self.server is not None:
            from workbench.backends.server.replies import ServerReplies

            backend = ServerReplies(self.server)
        else:
            assert self.loaded is not None
            backend = LocalBackend(self.loaded, self.decoders)
        build_prompt = self._prompt_builder(parent)
        resume = list(resume or [])
        turn = self.conversation.add(
            "assistant",
            "".join(s.text for s in resume),
            parent=parent.id,
            status="streaming",
            steps=list(resume),
            settings=self.sampling.to_dict(),
        )
        self.sync.start_reply(turn, self.sampling)
        reply = Reply(
            turn,
            backend,
            build_prompt,
            self.sampling,
            self.ui_settings.top_k_shown,
            post=self.post_message,
            resume=resume,
            forced_token=forced_token,
            step_mode=self.step_mode,
            play_delay=self.play_delay,
            request=self._request_text(parent),
        )
        self.reply = reply
        self._key_bar.refresh()  # Esc stop
        gcpolicy.hold_full_passes()  # a full GC pass would freeze the stream; run one when idle
        # no repaints for a blinking cursor while the reply streams
        self.chat_input.cursor_blink = False
        self._show_conversation()
        self.status.update_info(activity="paused: choose a token" if self.step_mode else "generating")
        self._flush_timer.resume()
        reply.start()

    def on_reply_prompted(self, message: ReplyPrompted) -> None:
        if self.reply is not None and self.reply.turn.id == message.turn_id:
            self._prompt_tokens = message.prompt_tokens
            self.status.update_info(context_used=message.prompt_tokens + len(self.reply.turn.steps))
        line = self.conversation_view.system_line
        if message.notice and message.notice != line.notice and not self.completion_mode:
            # the prompt as built says more than the line (a template that lost the system
            # prompt shows only here): a toast, and the chat's first line keeps it
            line.set_system(line.system_text, message.notice, line.from_template)
            self.notify(message.notice, title="Chat template", severity="warning", timeout=10)

    def _drain_tokens(self) -> None:
        """FLUSH_HZ times a second while generating: move new tokens from the worker onto the screen."""
        reply = self.reply
        if reply is None:
            self._flush_timer.pause()
            return
        turn = reply.turn
        new = reply.take_pending()
        if not new:
            return
        turn.steps.extend(new)
        turn.content += "".join(step.text for step in new)
        self.sync.maybe_save_progress(turn)
        if self.conversation.turns.get(turn.id) is not turn:
            return  # a new chat or another session is on screen while this reply stops
        view = self.conversation_view.view_for(turn.id)
        if view is not None:
            view.append_steps(new)
            conversation = self.conversation_view
            if conversation.following and not conversation.has_focus:
                conversation.follow(*view.end_row())  # scrolls only when a line was added
        if self.step_mode:
            self._show_live_step()  # at once: the chart then shows the paused distribution
            self._show_paused(False)  # a token came: the header says "generating…" again
            self.status.update_info(context_used=self._prompt_tokens + len(turn.steps))
        else:
            # The chart in a frame of its own, after the new text's. Drawn in one frame, Textual
            # repaints every widget under the rectangle spanning both (the whole screen): 40-55
            # ms frames while a reply streamed on a busy 2-core machine (bench/ui.py). A timer
            # after that frame, so that keys and other timers get their turn in between.
            self.call_after_refresh(self.set_timer, LIVE_CHART_AFTER_S, self._show_live_step)
        now = time.perf_counter()
        if reply.first_token_at is None:
            reply.first_token_at = now  # speed counts the tokens after the first to reach the screen
            reply.counted_from = len(turn.steps)
        if not self.step_mode and now - self._status_at > 0.5:
            self._status_at = now  # the speed figure needs no more than two updates a second
            counted = len(turn.steps) - reply.counted_from
            rate = counted / (now - reply.first_token_at) if counted and now > reply.first_token_at else None
            self.status.update_info(
                tokens_per_second=rate or self.status.info.tokens_per_second,
                context_used=self._prompt_tokens + len(turn.steps),
            )

    def _show_live_step(self) -> None:
        """The running reply's newest token in the chart (unless a token of the chat is selected)."""
        reply = self.reply
        if reply is None or not reply.turn.steps or self.conversation_view.selected[1] is not None:
            return  # ended meanwhile: the end of the reply is shown by _finish_reply
        step = reply.turn.steps[-1]
        if step is self.chart.step:
            return  # two drains before one frame: the first callback showed it
        self.chart.show_step(step, f"{'Stepping' if self.step_mode else 'Live'} · token {step.index + 1}")

    def on_step_waiting(self, message: StepWaiting) -> None:
        """Paused before a token: show the distribution and hand the keyboard to the chart."""
        if self.reply is None or message.turn_id != self.reply.turn.id:
            return
        self._drain_tokens()
        self._show_waiting(message.distribution)
        self._show_paused(True)
        self.status.update_info(
            activity="paused: choose a token", context_used=self._prompt_tokens + len(self.reply.turn.steps)
        )
        chat_visible = self.tabs.active == "chat"
        if chat_visible and not self.chart.has_focus and not self.conversation_view.has_focus:
            self.chart.focus()

    def _show_paused(self, paused: bool) -> None:
        """The running reply's header: "paused: choose a token" while a token waits for the user."""
        reply = self.reply
        view = self.conversation_view.view_for(reply.turn.id) if reply is not None else None
        if view is not None:
            view.set_paused(paused)
        self._key_bar.refresh()  # the chart's keys differ while a token waits

    def _show_waiting(self, dist: Any) -> None:
        index = len(self.reply.turn.steps) + 1 if self.reply else 0
        self.chart.show_candidates(
            dist.candidates,
            dist.entropy,
            None,
            f"Paused before token {index}",
            "1-9 pick · space sample · g top · t type · p play",
        )

    def on_generation_ended(self, message: GenerationEnded) -> None:
        reply = self.reply
        if reply is not None and reply.turn.id == message.turn_id:
            self._finish_reply(reply)

    def _record_end(self, reply: Reply) -> bool:
        """The reply's engine work is done: set its turn's end and queue the save (once).

        Data only, no widgets: also used while the app shuts down."""
        if reply.finished or reply.result is None:
            return False
        reply.finished = True
        result, turn = reply.result, reply.turn
        rest = reply.take_pending()  # tokens that never reached the screen are kept too
        turn.steps.extend(rest)
        turn.content = result.text
        turn.stats = dict(result.stats)
        if result.error:
            turn.status, turn.error = "error", result.error
        elif result.finish_reason == "cancelled":
            turn.status = "stopped"
        else:
            turn.status = "complete"
        turn.stats["finish_reason"] = "error" if result.error else result.finish_reason
        self.sync.finish_reply(turn)  # saved even if another chat is on screen by now
        return True

    def _collect_when_idle(self) -> None:
        """A second after a reply ended, with no other running: the full GC pass held back."""
        if self.reply is None and gcpolicy.full_passes_held():
            gcpolicy.release_full_passes()

    def _finish_reply(self, reply: Reply) -> None:
        """The reply ended: save it and show its end."""
        if reply.finished or reply.result is None:
            return
        self._drain_tokens()
        if not self._record_end(reply):
            return
        turn, result = reply.turn, reply.result
        if self.reply is reply:
            self.reply = None
            self._key_bar.refresh()
            self.set_timer(IDLE_GC_AFTER_S, self._collect_when_idle)
            self._flush_timer.pause()
            self.chat_input.cursor_blink = True
            if self.chart.has_focus:
                self.chat_input.focus()
        if result.error:
            self.notify(result.error, title="Generation failed", severity="error", timeout=15)
        if self.conversation.turns.get(turn.id) is not turn:
            return  # a new chat or another session is shown: nothing more to draw
        view = self.conversation_view.view_for(turn.id)
        if view is not None:
            view.refresh_body()  # as Markdown: the view follows its end once rendered
            self._mark_forks()  # a new branch: where it parts from its siblings
            self.conversation_view.keep_end_in_view()
        if turn.steps and self.conversation_view.selected[1] is None:
            n = len(turn.steps)
            self.chart.show_step(turn.steps[-1], f"Token {n}/{n} of the reply · {turn.status}")
        rate = turn.stats.get("tokens_per_second")
        self.status.update_info(
            tokens_per_second=rate if rate else self.status.info.tokens_per_second,
            context_used=turn.stats.get("context_used", self.status.info.context_used),
            activity="stopped" if turn.status == "stopped" else ("error" if turn.error else ""),
        )
        self._update_prompt_view()

    # --- actions ----------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.reply is not None:
            self.reply.stop()
            self.status.update_info(activity="stopping…")
        elif self._editing is not None:
            self._editing = None
            self.chat_input.value = ""
            self._set_input_placeholder()

    def _ready_for_new_reply(self) -> bool:
        if self.generating:
            self.notify("A reply is being generated: press Esc first.", severity="warning")
            return False
        if not self.model_ready:
            self.notify("The model is still loading.", severity="warning")
            return False
        return True

    def _selected_or_last_reply(self) -> Turn | None:
        turn, _ = self.conversation_view.selected
        return turn if turn is not None and turn.is_reply else self.conversation.last("assistant")

    def action_regenerate(self) -> None:
        """A new reply in place of the selected (or last) one; the old reply stays as a branch."""
        if not self._ready_for_new_reply():
            return
        reply = self._selected_or_last_reply()
        parent = self.conversation.turns.get(reply.parent) if reply and reply.parent is not None else None
        if parent is None:
            parent = self.conversation.last("user")
        if parent is None:
            self.notify("Nothing to regenerate yet.", severity="warning")
            return
        self.conversation.select(parent.id)
        self.conversation.leaf = parent.id
        self._start_reply(parent)

    def branch_from_token(self, reply: Turn, index: int, token_id: int) -> None:
        """Continue ``reply`` from its token ``index`` with another token: a new sibling reply."""
        if not self._ready_for_new_reply():
            return
        if reply.parent is None or reply.parent not in self.conversation.turns:
            return
        parent = self.conversation.turns[reply.parent]
        self.conversation.leaf = parent.id
        self._start_reply(parent, resume=reply.steps[:index], forced_token=token_id)

    def action_branch_candidate(self, rank: int) -> None:
        """With the token cursor on a reply: continue from that token with candidate ``rank``."""
        turn, step = self.conversation_view.selected
        if turn is None or step is None:
            self.notify(
                "Move the token cursor onto a reply's token first (Tab from the message box).",
                severity="warning",
            )
            return
        if rank > len(step.candidates):
            self.notify(
                f"Token {step.index + 1} has only {len(step.candidates)} recorded candidates.",
                severity="warning",
            )
            return
        candidate = step.candidates[rank - 1]
        if candidate.token_id == step.token_id:
            self.notify(f"Candidate {rank} is the token already there; pick another.", severity="warning")
            return
        self.branch_from_token(turn, step.index, candidate.token_id)
        self.notify(f"New branch from token {step.index + 1} with candidate {rank} ({candidate.text}).")

    def action_edit_last(self) -> None:
        """Put the last user message in the input; sending it makes a new branch."""
        self._edit(self.conversation.last("user"))

    def action_edit_selected(self) -> None:
        """Edit the message the selected reply answers (an earlier one): a new branch from there."""
        reply = self._selected_or_last_reply()
        user = self.conversation.turns.get(reply.parent) if reply and reply.parent is not None else None
        self._edit(user if user is not None and user.role == "user" else self.conversation.last("user"))

    def _edit(self, user: Turn | None) -> None:
        if self.generating:
            self.notify("A reply is being generated: press Esc first.", severity="warning")
            return
        if user is None:
            self.notify("There is no message to edit yet.", severity="warning")
            return
        self._editing = user
        chat_input = self.chat_input
        chat_input.value = user.content
        chat_input.placeholder = "Editing a message: Enter sends it as a new branch, Esc cancels"
        self.action_show_tab("chat")
        chat_input.focus()

    def action_sibling(self, delta: int) -> None:
        """Show the previous/next alternative of the selected (or last) reply."""
        if self.generating:
            self.notify("Wait for the reply (or press Esc) before switching branches.", severity="warning")
            return
        turn = self._selected_or_last_reply()
        if turn is None:
            return
        position, count = self.conversation.sibling_position(turn.id)
        if count == 1:
            # the reply has no alternatives: try the message it answers
            parent = self.conversation.turns.get(turn.parent) if turn.parent is not None else None
            if parent is not None and self.conversation.sibling_position(parent.id)[1] > 1:
                turn = parent
            else:
                self.notify("This reply has no other branches (regenerate or pick a candidate to make one).")
                return
        cursor = self.conversation_view.selected[1]
        target = self.conversation.switch_sibling(turn.id, delta)
        if target is None:
            return
        self.sync.set_leaf(self.conversation.leaf)
        for shown in self.conversation.path():
            self.sync.load_steps(shown)
        self._show_conversation()
        # the cursor and the chart stay at the token where the two branches part
        self._cursor_after_switch(turn, self.conversation.turns[target], cursor.index if cursor else None)
        position, count = self.conversation.sibling_position(target)
        self.status.update_info(activity=f"branch {position}/{count}")
