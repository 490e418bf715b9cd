"""Keep the garbage collector's full passes from freezing the screen.

A loaded model brings a large number of long-lived Python objects (torch, transformers, the
tokenizer's tables). Python's full (generation-2) collection walks every one of them: on this
machine that took 200-340 ms, several times while a 2,000-token reply streamed, and the UI
thread (which holds the GIL meanwhile) stalled for as long (bench/ui.py). Once a model is
loaded, :func:`freeze_long_lived` moves every object alive then to the permanent generation,
which the collector skips. Before a model is released, :func:`thaw` hands them back, so the
model's reference cycles can be collected and its memory returned.

Call these on the engine thread (engine/runner.py), in order with loading and releasing.
"""

from __future__ import annotations

import gc

# Full passes at most every FULL_EVERY young passes of generation 1 (Python's default is 10).
# With the model frozen, the "25% new long-lived objects" rule lets a full pass run often;
# each still walks every live unfrozen object (the conversation's token records, the widgets'
# render caches): 30-65 ms with a 2,000-token reply on screen.
FULL_EVERY = 100
HELD = 1_000_000_000  # "never", while a reply streams


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt everything still alive from later passes."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)


def hold_full_passes() -> None:
    """No automatic full pass until :func:`release_full_passes` (while a reply streams: the
    cyclic garbage it makes, a few MB for 2,000 tokens, waits for the next idle moment)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, HELD)


def release_full_passes() -> None:
    """Collect now (call it when nothing is on the move), then let full passes run again."""
    gc.collect()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)


def full_passes_held() -> bool:
    return gc.get_threshold()[2] == HELD


def thaw() -> None:
    """Make frozen objects collectable again (before a release, and at exit)."""
    gc.unfreeze()


def frozen_count() -> int:
    return gc.get_freeze_count()
