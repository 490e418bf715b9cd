"""Let the UI thread finish a frame before the engine thread takes the GIL from it.

CPython makes a thread that holds the GIL hand it over when another has waited the switch
interval (5 ms by default). The engine thread rarely needs that: it spends its time in torch
operations, which release the GIL, with short Python stretches between them. The UI thread is
the other way round: a frame is 3-40 ms of pure Python (Textual's layout and compositor). With
the default interval, every frame was cut into 5 ms slices with the engine's Python in between,
and a 30 ms frame took up to 80 ms of wall time (bench/ui.py, a 2,000-token reply). A longer
interval lets a frame run to its end; the engine still gets the GIL back at once whenever the UI
thread waits (for the next message, a timer, or input), which is most of the time.
"""

from __future__ import annotations

import sys

UI_SWITCH_INTERVAL_S = 0.05


def favour_ui_thread() -> float:
    """Set the longer switch interval; returns the one it replaces (for :func:`restore`)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
    return previous


def restore(previous: float) -> None:
    sys.setswitchinterval(previous)
