"""Shared fixtures.

Every test runs with WORKBENCH_HOME in a tmp dir. The de-quantised copy of the bundled GGUF
is cached in one session-wide tmp dir (linked into each test's home) so only the first load
in a run pays for de-quantisation.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# tests/servers needs a real llama-server: opt in with `make test-servers` (WORKBENCH_TEST_SERVERS=1).
collect_ignore = [] if os.environ.get("WORKBENCH_TEST_SERVERS") == "1" else ["servers"]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shared-cache")
    return path


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "workbench-home"
    home.mkdir()
    (home / "cache").symlink_to(shared_cache, target_is_directory=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test may reach the hub
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    return home


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The engine threads of the suite (in this process and in the apps it starts) at the UI
    # thread's priority, not the app's nice +5 (engine/runner.py). The nice is for a person's
    # view of a streaming reply. Beside CPU-bound jobs started from the same shell (the issue's
    # two busy loops, in the same scheduling group) the niced engines got a small share of the
    # cores, and the suite, which waits on them, was on course for about two hours against
    # 37 minutes at nice 0. tests/unit/test_engine_priority.py checks the default in fresh
    # processes.
    os.environ.setdefault("WORKBENCH_ENGINE_NICE", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # One torch thread in the test process. The test models are too small to gain from a
    # second one, and on a 2-core machine (beside the app's UI thread, or anything else) two
    # OpenMP threads wait on each other: the zoo's tests took 84 s with two and 21 s with one.
    # The apps and commands that tests start as subprocesses keep torch's default, as users do.
    import torch

    torch.set_num_threads(1)
