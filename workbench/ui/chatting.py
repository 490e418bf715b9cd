"""Sending messages and generating replies: the reply worker, the token drain, branches.

A mixin of the app (see app.py for the state it sets up). Every reply runs through the
engine's StepChooser, so any reply can be paused and stepped (stepmode.py); with step mode
off the chooser plays without delay.

Branches: regenerating, editing a message, or continuing from a token of a reply with
another candidate adds a sibling to the conversation tree; nothing is discarded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.widgets import Input

from workbench.conversation import Turn
from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import TokenStep
from workbench.ui.messages import GenerationEnded, StepWaiting

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel
    from workbench.engine.prompts import Prompt

CHAT_PLACEHOLDER = "Message {name}… (Enter sends, ↑ edits the last)"
COMPLETION_PLACEHOLDER = "Text to continue… (Enter continues; empty Enter continues the document)"


class ChatMixin:
    """Needs: conversation, sync, loaded, sampling, ui_settings, step_mode, play_delay, completion_mode,
    _pending, _cancel, _generation, _decoder, _chooser, _streaming, _waiting_for_model, _editing."""

    _status_at = 0.0  # when the status line's speed was last updated
    _chart_at = 0.0  # when the chart last showed a streaming token

    # --- sending --------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # (a plain handler: Textual collects @on handlers only from MessagePump classes, not mixins)
        if event.input.id == "chat-input":
            event.stop()
            self.send(event.value)

    def send(self, text: str) -> None:
        """Send a message (or the edited one), or in completion mode add text and continue."""
        chat_input = self.query_one("#chat-input", Input)
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
        parent: Any = "leaf"
        if self._editing is not None:
            parent = self._editing.parent  # the edit becomes a sibling: the old message stays as a branch
            self._editing = None
        chat_input.value = ""
        self._set_input_placeholder()
        self.sync.ensure_session(self.load_settings, self.sampling, self._session_ui())
        if continuing:
            turn = self.conversation.turns[self.conversation.leaf]
        else:
            turn = self.conversation.add("user", text, parent=parent)
            stored = self.sync.save_user(turn)
            if stored is not None:
                self.conversation.rekey(turn.id, stored)
            self._report_store_error()
            self._show_conversation()
        if self.loaded is None:
            self._waiting_for_model = turn
            self.notify("The model is still loading; your message will be answered when it is ready.")
            return
        self._start_reply(turn)

    def _set_input_placeholder(self) -> None:
        chat_input = self.query_one("#chat-input", Input)
        name = self.loaded.source.short_name if self.loaded is not None else "the model"
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

    # --- replies --------------------------------------------------------------------

    def _start_reply(
        self, parent: Turn, resume: list[TokenStep] | None = None, forced_token: int | None = None
    ) -> None:
        """Generate a reply after ``parent``; ``resume``/``forced_token`` branch from a token."""
        assert self.loaded is not None
        build_prompt = self._prompt_builder(parent)
        resume = list(resume or [])
        reply = self.conversation.add(
            "assistant",
            "".join(s.text for s in resume),
            parent=parent.id,
            status="streaming",
            steps=list(resume),
            settings=self.sampling.to_dict(),
        )
        stored = self.sync.start_reply(reply, self.sampling)
        if stored is not None:
            self.conversation.rekey(reply.id, stored)
        self._report_store_error()
        self._streaming = reply
        # no repaints for a blinking cursor while the reply streams
        self.query_one("#chat-input", Input).cursor_blink = False
        self._pending.clear()
        self._cancel = threading.Event()
        from workbench.engine.stepping import StepChooser

        turn_id = reply.id
        chooser = StepChooser(
            on_waiting=lambda dist: self.post_message(StepWaiting(turn_id, dist)),
            cancel=self._cancel,
            playing=not self.step_mode,
            delay=self.play_delay if self.step_mode else 0.0,
        )
        chooser.first_token = forced_token
        self._chooser = chooser
        self._show_conversation()
        self.status.update_info(activity="paused: choose a token" if self.step_mode else "generating")
        self._flush_timer.resume()
        self._generate_worker(
            self.loaded,
            build_prompt,
            reply.id,
            self.sampling,
            self.ui_settings.top_k_shown,
            self._cancel,
            chooser,
            resume,
        )

    @work(thread=True, exclusive=True, group="generation", exit_on_error=False)
    def _generate_worker(self, *args: Any) -> None:
        """A Textual thread worker that waits while the engine thread generates the reply."""
        from workbench.engine import runner

        runner.run(self._generate, *args)

    def _generate(
        self,
        loaded: LoadedModel,
        build_prompt: Callable[[Any], Prompt],
        turn_id: int,
        settings: SamplingSettings,
        top_k: int,
        cancel: threading.Event,
        chooser: Any,
        resume: list[TokenStep],
    ) -> None:
        """Runs on the engine thread: tokens go into ``self._pending``; the end is one posted message."""
        import torch

        from workbench.engine.decoding import Decoder, Generation
        from workbench.engine.sampling import Sampler

        generation = None
        try:
            prompt = build_prompt(loaded.tokenizer)
            ids = list(prompt.ids) + [s.token_id for s in resume]
            decoder = self._decoder
            if decoder is None or decoder.loaded is not loaded:
                decoder = Decoder(loaded, ids)
            else:
                decoder.reset_to(ids)  # keeps the KV cache of the shared prefix
            decoder.set_prompt_length(len(prompt.ids))
            self._decoder = decoder
            generation = Generation(
                decoder, Sampler(settings), top_k=top_k, cancel=cancel, chooser=chooser, resume_steps=resume
            )
            self._generation = generation
            for step in generation:
                self._pending.append(step)
            reason = generation.finish_reason or "length"
            self.post_message(
                GenerationEnded(turn_id, generation.text, reason, self._stats(generation, decoder))
            )
        except torch.OutOfMemoryError:
            self._decoder = None
            error = "out of memory while generating: try a shorter conversation, a smaller dtype or another device"
            self.post_message(
                GenerationEnded(turn_id, generation.text if generation else "", "error", {}, error)
            )
        except Exception as exc:  # noqa: BLE001 - shown on the reply; the app stays up
            self._decoder = None
            text = generation.text if generation else ""
            self.post_message(GenerationEnded(turn_id, text, "error", {}, f"{type(exc).__name__}: {exc}"))
        finally:
            self._generation = None

    @staticmethod
    def _stats(generation: Any, decoder: Any) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "tokens": len(generation.steps),
            "tokens_per_second": round(generation.tokens_per_second, 2),
            "finish_reason": generation.finish_reason,
            "context_used": len(decoder),
            "seconds": round(generation.elapsed, 3),
        }
        if len(generation.settings_changes) > 1:  # settings changed during the reply: keep each step's
            stats["settings_changes"] = [
                {"from_token": i, "sampling": s} for i, s in generation.settings_changes
            ]
        return stats

    def _drain_tokens(self) -> None:
        """20 times a second while generating: move new tokens from the worker onto the screen."""
        turn = self._streaming
        if turn is None:
            self._flush_timer.pause()
            return
        new: list[TokenStep] = []
        while self._pending:
            new.append(self._pending.popleft())
        if not new:
            return
        turn.steps.extend(new)
        turn.content += "".join(step.text for step in new)
        view = self.conversation_view.view_for(turn.id)
        if view is not None and view.append_steps(new) and not self.conversation_view.has_focus:
            self.conversation_view.scroll_end(animate=False)  # only when the reply grew a line
        if self.conversation_view.selected[1] is None:
            self.chart.show_step(
                new[-1], f"{'Stepping' if self.step_mode else 'Live'} · token {new[-1].index + 1}"
            )
        generation = self._generation
        now = time.perf_counter()
        if (
            generation is not None
            and generation.started
            and not self.step_mode
            and now - self._status_at > 0.5
        ):
            self._status_at = now  # the speed figure needs no more than two updates a second
            rate = generation.new_tokens / max(1e-6, now - generation.started)
            decoder = self._decoder
            used = len(decoder) if decoder is not None else self.status.info.context_used
            self.status.update_info(tokens_per_second=rate, context_used=used)
        self.sync.maybe_save_progress(turn)

    def on_step_waiting(self, message: StepWaiting) -> None:
        """Paused before a token: show the distribution and hand the keyboard to the chart."""
        if self._streaming is None or message.turn_id != self._streaming.id:
            return
        self._drain_tokens()
        self._show_waiting(message.distribution)
        self.status.update_info(activity="paused: choose a token")
        chat_visible = self.query_one("#tabs").active == "chat"
        if chat_visible and not self.chart.has_focus and not self.conversation_view.has_focus:
            self.chart.focus()

    def _show_waiting(self, dist: Any) -> None:
        index = len(self._streaming.steps) + 1 if self._streaming else 0
        self.chart.show_candidates(
            dist.candidates,
            dist.entropy,
            None,
            f"Paused before token {index}",
            "1-9 pick · space sample · g top · t type · p play",
        )

    def on_generation_ended(self, message: GenerationEnded) -> None:
        self._drain_tokens()
        turn = self.conversation.turns.get(message.turn_id)
        self._streaming = None
        self._chooser = None
        self._flush_timer.pause()
        self.query_one("#chat-input", Input).cursor_blink = True
        if self.chart.has_focus:
            self.query_one("#chat-input", Input).focus()
        if turn is None:
            return
        turn.content = message.text
        turn.stats = message.stats
        if message.error:
            turn.status, turn.error = "error", message.error
            self.notify(message.error, title="Generation failed", severity="error", timeout=15)
        elif message.finish_reason == "cancelled":
            turn.status = "stopped"
        else:
            turn.status = "complete"
        self.sync.finish_reply(turn)
        self._report_store_error()
        view = self.conversation_view.view_for(turn.id)
        if view is not None:
            view.refresh_body()
        if turn.steps and self.conversation_view.selected[1] is None:
            n = len(turn.steps)
            self.chart.show_step(turn.steps[-1], f"Token {n}/{n} of the reply · {turn.status}")
        rate = message.stats.get("tokens_per_second")
        self.status.update_info(
            tokens_per_second=rate if rate else self.status.info.tokens_per_second,
            context_used=message.stats.get("context_used", self.status.info.context_used),
            activity="stopped" if turn.status == "stopped" else ("error" if turn.error else ""),
        )
        self._update_prompt_view()

    # --- actions ----------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.generating:
            self._cancel.set()
            self.status.update_info(activity="stopping…")
        elif self._editing is not None:
            self._editing = None
            self.query_one("#chat-input", Input).value = ""
            self._set_input_placeholder()

    def _ready_for_new_reply(self) -> bool:
        if self.generating:
            self.notify("A reply is being generated: press Esc first.", severity="warning")
            return False
        if self.loaded is None:
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
        chat_input = self.query_one("#chat-input", Input)
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
        new_turn = self.conversation.turns[target]
        if self.conversation_view.has_focus and new_turn.is_reply and new_turn.steps:
            index = min(cursor.index if cursor else 0, len(new_turn.steps) - 1)
            self.conversation_view.select_turn(new_turn.id, index)
        position, count = self.conversation.sibling_position(target)
        self.status.update_info(activity=f"branch {position}/{count}")
