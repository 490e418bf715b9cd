"""One thread for all torch work.

PyTorch's CPU kernels run on an OpenMP thread pool, and each OS thread that calls into torch
gets a pool of its own. Two pools on a small machine fight over the cores: on 2 cores,
decoding in a second thread after loading in the first ran at 25-29 tokens/s against 43 when
one thread did both (measured with the bundled model). So everything that computes with the
model (loading, generating, re-weighting) is run on this one long-lived thread.

It is a daemon thread: quitting the app never waits for a model that is still loading.

On Linux it runs at a lower priority (nice +ENGINE_NICE), and so do the OpenMP workers torch
starts from it (a new thread takes its creator's nice value): when the UI thread wakes up to
draw a frame or take a key it gets a core at once, instead of waiting its turn behind the
decode. The decode runs as fast as before whenever nothing else wants the CPU.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Future[Any]]  # fn, args, kwargs, result
_jobs: queue.SimpleQueue[_Job] | None = None
_thread: threading.Thread | None = None


# Longest UI stall while a 2,000-token reply streamed on 2 cores (bench/ui.py, alternating runs):
# 33.4 and 36.8 ms with it, 37.7 and 67.8 ms without; decoding no slower (24.2-26.7 tokens/s vs
# 20.5-25.8): a niced thread keeps its full speed whenever nothing else wants the core.
# On a box shared with other busy work, that work comes first: WORKBENCH_ENGINE_NICE=0 turns it off.
ENGINE_NICE = 5
NICE_VARIABLE = "WORKBENCH_ENGINE_NICE"


def engine_nice() -> int:
    """How much lower the engine thread runs (0-19): WORKBENCH_ENGINE_NICE, else ENGINE_NICE."""
    value = os.environ.get(NICE_VARIABLE, "").strip()
    if not value:
        return ENGINE_NICE
    try:
        return min(19, max(0, int(value)))
    except ValueError:
        print(
            f"workbench: {NICE_VARIABLE}={value!r} is not a whole number; using {ENGINE_NICE}",
            file=sys.stderr,
        )
        return ENGINE_NICE


def _lower_priority() -> None:
    """Nice this thread (only this one: on Linux the nice value is per thread)."""
    nice = engine_nice()
    if sys.platform != "linux" or not nice:
        return  # elsewhere setpriority's "process" is a process, never a thread
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError:
        pass  # not allowed here (a sandbox): the engine just keeps the UI's priority


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
    _lower_priority()  # before torch starts its workers from this thread
    while True:
        fn, args, kwargs, future = jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)


def submit(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """Queue ``fn(*args, **kwargs)`` on the engine thread; jobs run one at a time, in order."""
    global _jobs, _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _jobs = queue.SimpleQueue()
            _thread = threading.Thread(target=_serve, args=(_jobs,), name="workbench-engine", daemon=True)
            _thread.start()
        jobs = _jobs
    future: Future[T] = Future()
    assert jobs is not None
    jobs.put((fn, args, kwargs, future))
    return future


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run on the engine thread and wait for the result (or its exception)."""
    if threading.current_thread() is _thread:
        return fn(*args, **kwargs)  # already there: queuing would wait for ourselves
    return submit(fn, *args, **kwargs).result()
