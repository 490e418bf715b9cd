"""Step mode: pause each token, choose it yourself, play, change settings on a paused token.

A mixin of the app. Decisions go to the engine's StepChooser held in ``self._chooser``;
the chart (focused while paused) carries the keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.settings import SamplingSettings
from workbench.ui.host import AppHost

if TYPE_CHECKING:
    from workbench.engine.stepping import DecisionKind


class StepModeMixin(AppHost):
    def action_toggle_step_mode(self) -> None:
        server = self.server
        if not self.step_mode and server is not None and not server.capabilities["step"].supported:
            reason = server.capabilities["step"].reason
            self.notify(
                f"Step mode is not available on this server: {reason}", severity="warning", timeout=10
            )
            return
        self.step_mode = not self.step_mode
        chooser = self._chooser
        if chooser is not None:  # pause (or resume) the reply being generated now
            chooser.set_playing(not self.step_mode, self.play_delay if self.step_mode else 0.0)
        if self.step_mode:
            self.notify(
                "Step mode on: each token waits for you. Space samples, g takes the top, 1-9 pick, p plays."
            )
        else:
            self.notify("Step mode off: replies stream by themselves.")
        self.status.update_info(
            activity="step mode" if self.step_mode and not self.generating else self.status.info.activity
        )

    def _decide(self, kind: DecisionKind, token_id: int | None = None) -> bool:
        from workbench.engine.stepping import Decision

        chooser = self._chooser
        if chooser is not None and chooser.waiting is None and not chooser.playing and kind != "token":
            # paused, but the next token is still being computed: the key applies when it is ready
            chooser.decide(Decision(kind, token_id))
            self.status.update_info(activity=f"computing… {chooser.queued} choice(s) queued")
            return True
        if chooser is None or chooser.waiting is None:
            if chooser is not None and not chooser.playing:
                self.notify(
                    "The next token is still being computed: pick a candidate once it shows "
                    "(Space and g are queued).",
                    severity="warning",
                )
            elif self.generating:
                self.notify("Not paused: press p (or F7) to pause the reply first.", severity="warning")
            else:
                self.notify("Nothing to choose: send a message with step mode on (F7).", severity="warning")
            return False
        chooser.decide(Decision(kind, token_id))
        self.status.update_info(activity="computing…")
        self._show_paused(False)
        return True

    def action_step_sample(self) -> None:
        self._decide("sample")

    def action_step_greedy(self) -> None:
        self._decide("greedy")

    def action_step_pick(self, rank: int) -> None:
        chooser = self._chooser
        dist = chooser.waiting if chooser is not None else None
        if dist is None:
            self._decide("token")  # reports why nothing happens
            return
        if rank > len(dist.candidates):
            self.notify(
                f"Only {len(dist.candidates)} candidates are shown; raise 'candidates shown' in settings."
            )
            return
        self._decide("token", dist.candidates[rank - 1].token_id)

    def action_step_token(self) -> None:
        """Type any token, by text or #id, as the next one."""
        chooser = self._chooser
        if (
            self.server is not None
            and self.loaded is None
            and chooser is not None
            and chooser.waiting is not None
        ):
            self.notify(
                "Typing a token needs the model's whole vocabulary, which a server does not send: "
                "pick a candidate (1-9), sample (Space) or take the top one (g).",
                severity="warning",
            )
            return
        if chooser is None or chooser.waiting is None or self.loaded is None:
            self._decide("token")
            return
        from workbench.ui.screens.pick_token import PickTokenScreen

        def chosen(token_id: int | None) -> None:
            if token_id is not None:
                self._decide("token", token_id)

        self.push_screen(PickTokenScreen(self.loaded.table, self.loaded.tokenizer), chosen)

    def action_play_pause(self) -> None:
        chooser = self._chooser
        if chooser is None:
            self.notify("Nothing is being generated.", severity="warning")
            return
        playing = not chooser.playing
        chooser.set_playing(playing, self.play_delay if self.step_mode else 0.0)
        if playing:
            self._show_paused(False)
        self.status.update_info(activity=f"playing, {self.play_delay:g} s a token" if playing else "paused")

    def action_play_speed(self, faster: int) -> None:
        from workbench.engine.stepping import PLAY_DELAYS

        index = min(range(len(PLAY_DELAYS)), key=lambda i: abs(PLAY_DELAYS[i] - self.play_delay))
        index = max(0, min(len(PLAY_DELAYS) - 1, index + faster))
        self.play_delay = PLAY_DELAYS[index]
        chooser = self._chooser
        if chooser is not None and chooser.playing and self.step_mode:
            chooser.set_playing(True, self.play_delay)
        self.notify(
            f"Play speed: {'no pause' if self.play_delay == 0 else f'{self.play_delay:g} s a token'}."
        )

    def reweight_waiting(self, settings: SamplingSettings) -> bool:
        """New sampling settings while paused: q is redrawn from the logits already computed.

        The engine thread re-weights and posts the result as a new StepWaiting message.
        """
        chooser = self._chooser
        return chooser is not None and chooser.request_reweight(settings)
