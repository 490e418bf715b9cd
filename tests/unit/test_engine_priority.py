"""The engine thread, and the torch workers it starts, run below the UI thread's priority.

On 2 cores the decode's threads took the CPU from the UI thread for 20-25 ms at a time in the
longest UI stalls while a reply streamed (bench/ui.py: a stall's wall time against the UI
thread's own CPU time in it). Niced, they give way whenever the UI thread wakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

from workbench.engine import runner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")

PROBE = """
import json, os, threading
import torch
from workbench.engine import runner

def nice(tid):
    return os.getpriority(os.PRIO_PROCESS, tid)

torch.set_num_threads(2)
before = set(os.listdir("/proc/self/task"))

def work():
    a = torch.randn(512, 512)
    for _ in range(20):
        a = torch.tanh(a @ a)  # a parallel region: torch starts its OpenMP workers here
    return threading.get_native_id()

engine = runner.run(work)
new = sorted(int(t) for t in set(os.listdir("/proc/self/task")) - before)
print(json.dumps({"main": nice(threading.get_native_id()), "engine": engine,
                  "threads": {t: nice(t) for t in new},
                  "names": {t: open(f"/proc/self/task/{t}/comm").read().strip() for t in new}}))
"""


def test_the_engine_thread_runs_below_the_ui_thread() -> None:
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    engine = runner.run(threading.get_native_id)
    assert engine != threading.get_native_id()
    assert os.getpriority(os.PRIO_PROCESS, engine) == min(19, main + runner.engine_nice())


def probe(env: dict[str, str]) -> dict[str, Any]:
    """Nice values of the main thread and of every thread started while the engine ran torch."""
    environment = {k: v for k, v in os.environ.items() if k != runner.NICE_VARIABLE} | env
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=environment,
    )
    seen: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return seen


def test_torch_workers_started_from_the_engine_thread_inherit_its_priority() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    main, engine, threads = seen["main"], seen["engine"], {int(t): n for t, n in seen["threads"].items()}
    assert threads[engine] == main + runner.ENGINE_NICE
    workers = [tid for tid in threads if tid != engine]
    assert workers, "torch started no worker thread for a parallel region with 2 threads"
    # every thread started since (the engine thread, torch's workers) runs niced
    assert all(n == main + runner.ENGINE_NICE for n in threads.values()), seen


def test_workbench_engine_nice_sets_it_and_zero_turns_it_off() -> None:
    off = probe({runner.NICE_VARIABLE: "0"})
    assert set(off["threads"].values()) == {off["main"]}
    three = probe({runner.NICE_VARIABLE: "3"})
    assert three["threads"][str(three["engine"])] == three["main"] + 3
