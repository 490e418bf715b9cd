"""Step mode: a chooser that lets someone else (a person, through the UI) pick each token.

The generation thread calls the chooser with each new distribution and waits. Another
thread answers with :meth:`StepChooser.decide`: sample one, take the most probable, or
use a given token; or sets it playing, so it samples by itself every ``delay`` seconds.
A decision given while the next distribution is still being computed is queued (a key
pressed a moment early is not lost) and taken as soon as that distribution arrives.
While it waits, :meth:`reweight` applies other sampling settings to the distribution it
holds: a new ``q`` from the logits already computed, no forward pass, drawn from the reply's
own seeded stream (a re-weight does not restart it).

The distribution is the engine's :class:`Distribution` or anything with the same few
members (``settings``, ``candidates``, ``entropy``, ``greedy_token``, ``sample_token``,
``reweighted``): a server's step (workbench/backends/server/replies.py) is one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from workbench.engine.settings import SamplingSettings

if TYPE_CHECKING:  # no torch here: a server's replies use the chooser in a process without it
    from workbench.engine.decoding import Choice, Distribution

DecisionKind = Literal["sample", "greedy", "token", "stop"]
PLAY_DELAYS = (1.0, 0.5, 0.25, 0.1, 0.0)  # seconds between tokens while playing


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    token_id: int | None = None


class StepChooser:
    """Thread-safe: ``__call__`` runs on the generation thread, everything else anywhere."""

    def __init__(
        self,
        on_waiting: Callable[[Distribution], None] | None = None,
        cancel: threading.Event | None = None,
        playing: bool = False,
        delay: float = 0.5,
    ) -> None:
        self._on_waiting = on_waiting
        self._cancel = cancel or threading.Event()
        self._cond = threading.Condition()
        self._decision: Decision | None = None
        self._dist: Distribution | None = None
        self._queued: deque[Decision] = deque()  # decisions given before their distribution
        self.playing = playing
        self.delay = delay
        self.first_token: int | None = None  # a token forced as the very next one (branching)
        self._new_settings: SamplingSettings | None = None  # asked for by request_reweight

    # --- the generation thread -------------------------------------------------------

    def __call__(self, dist: Distribution) -> Choice | None:
        if self.first_token is not None:
            token, self.first_token = self.first_token, None
            return token, "user", dist
        with self._cond:
            self._dist = dist
            self._decision = self._queued.popleft() if self._queued else None
            self._apply_new_settings()  # settings that arrived while this distribution was computed
        decision = self._wait()
        with self._cond:
            dist, self._dist = (self._dist if self._dist is not None else dist), None
        if decision.kind == "stop":
            return None
        if decision.kind == "token":
            assert decision.token_id is not None
            return decision.token_id, "user", dist
        if decision.kind == "greedy":
            return dist.greedy_token(), "greedy", dist
        token, chosen_by = dist.sample_token()
        return token, chosen_by, dist

    def _wait(self) -> Decision:
        """Wait for a decision; while playing, sample by itself once ``delay`` has passed.

        ``on_waiting`` is called (outside the lock) each time the chooser is left paused
        with this distribution, so whoever decides can show it.
        """
        started = time.monotonic()
        announced = False
        while True:
            with self._cond:
                if self._cancel.is_set():
                    return Decision("stop")
                if self._decision is not None:
                    return self._decision
                if self._apply_new_settings():
                    announced = False
                if self.playing:
                    remaining = self.delay - (time.monotonic() - started)
                    if remaining <= 0:
                        return Decision("sample")
                    self._cond.wait(min(remaining, 0.05))
                    continue
                dist = self._dist
                if announced:
                    self._cond.wait(0.05)  # wake now and then to see a cancel
                    continue
            announced = True
            if self._on_waiting is not None and dist is not None:
                self._on_waiting(dist)

    def _apply_new_settings(self) -> bool:
        """Re-weight the held distribution under settings asked for meanwhile (lock held).

        Runs on the generation thread, so all torch work stays on one thread; the new sampler
        keeps the reply's seeded stream (``Distribution.reweighted`` with settings).
        """
        settings, self._new_settings = self._new_settings, None
        if settings is None or self._dist is None or settings == self._dist.settings:
            return False
        self._dist = self._dist.reweighted(settings)
        self._cond.notify_all()
        return True

    # --- the other thread ------------------------------------------------------------

    @property
    def waiting(self) -> Distribution | None:
        """The distribution waiting for a decision, if any."""
        with self._cond:
            return self._dist

    def decide(self, decision: Decision) -> None:
        """Answer the waiting distribution; with none waiting (the next one is still being
        computed) the decision is queued for it, in order. A stop is never queued."""
        with self._cond:
            if decision.kind == "stop":
                self._queued.clear()
                self._decision = decision
            elif self._dist is None or self._decision is not None:
                self._queued.append(decision)
            else:
                self._decision = decision
            self._cond.notify_all()

    @property
    def queued(self) -> int:
        """Decisions waiting for their distribution."""
        with self._cond:
            return len(self._queued)

    def set_playing(self, playing: bool, delay: float | None = None) -> None:
        with self._cond:
            self.playing = playing
            if delay is not None:
                self.delay = delay
            self._cond.notify_all()

    def request_reweight(self, settings: SamplingSettings) -> bool:
        """Ask for the waiting distribution under other settings (no forward pass).

        The generation thread does the work and calls ``on_waiting`` with the result; returns
        False when nothing is waiting (the settings are still kept for the next distribution,
        which may be on its way with the old ones).
        """
        with self._cond:
            self._new_settings = settings
            self._cond.notify_all()
            return self._dist is not None

    def reweight(self, settings: SamplingSettings, timeout: float = 10.0) -> Distribution | None:
        """:meth:`request_reweight` and wait for the re-weighted distribution."""
        with self._cond:
            before = self._dist
            if before is None or settings == before.settings:
                return before  # nothing waiting, or nothing to change: no need to wait
            self._new_settings = settings
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._dist is not before or self._dist is None, timeout)
            return self._dist

    def stop(self) -> None:
        self.decide(Decision("stop"))
