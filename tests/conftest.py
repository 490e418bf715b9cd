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
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
