"""One thread for all torch work.

PyTorch's CPU kernels run on an OpenMP thread pool, and each OS thread that calls into torch
gets a pool of its own. Two pools on a small machine fight over the cores: on 2 cores,
decoding in a second thread after loading in the first ran at 25-29 tokens/s against 43 when
one thread did both (measured with the bundled model). So everything that computes with the
model (loading, generating, re-weighting) is run on this one long-lived thread.

It is a daemon thread: quitting the app never waits for a model that is still loading.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Future[Any]]  # fn, args, kwargs, result
_jobs: queue.SimpleQueue[_Job] | None = None
_thread: threading.Thread | None = None


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
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
