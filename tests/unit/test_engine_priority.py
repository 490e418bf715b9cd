"""The engine thread, and the torch workers it starts, run below the UI thread's priority.

On 2 cores the decode's threads took the CPU from the UI thread for 20-25 ms at a time in the
longest UI stalls while a reply streamed (bench/ui.py: a stall's wall time against the UI
thread's own CPU time in it). Niced, they give way whenever the UI thread wakes.

The suite itself runs its engines at nice 0 (tests/conftest.py), so these tests look at fresh
processes started with the app's default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def probe(env: dict[str, str]) -> dict[str, Any]:
    """Nice values of the main thread and of every thread started while the engine ran torch,
    in a fresh process whose WORKBENCH_ENGINE_NICE is only what ``env`` says (the suite's own
    processes run theirs at 0: tests/conftest.py)."""
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


def test_the_engine_thread_and_the_torch_workers_it_starts_run_below_the_ui_thread() -> None:
    seen = probe({})  # the app's default
    main, engine, threads = seen["main"], seen["engine"], {int(t): n for t, n in seen["threads"].items()}
    assert engine != 0 and engine in threads
    assert threads[engine] == main + runner.ENGINE_NICE
    workers = [tid for tid in threads if tid != engine]
    assert workers, "torch started no worker thread for a parallel region with 2 threads"
    # every thread started since (the engine thread, torch's workers) runs niced
    assert all(n == main + runner.ENGINE_NICE for n in threads.values()), seen


def test_a_bad_or_out_of_range_value_falls_back_or_is_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in [
        ("abc", runner.ENGINE_NICE),
        ("", runner.ENGINE_NICE),
        ("25", 19),
        ("-3", 0),
        ("7", 7),
    ]:
        monkeypatch.setenv(runner.NICE_VARIABLE, value)
        assert runner.engine_nice() == expected, value


def test_workbench_engine_nice_sets_it_and_zero_turns_it_off() -> None:
    off = probe({runner.NICE_VARIABLE: "0"})
    assert set(off["threads"].values()) == {off["main"]}
    three = probe({runner.NICE_VARIABLE: "3"})
    assert three["threads"][str(three["engine"])] == three["main"] + 3
