"""A throw-away WORKBENCH_HOME for benchmarks: nothing is saved into the user's own
database or config, while the de-quantised model cache is shared (no 15 s re-conversion)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_home() -> Iterator[Path]:
    from workbench import paths

    real_cache = paths.cache_dir()
    real_cache.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("WORKBENCH_HOME")
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "cache").symlink_to(real_cache, target_is_directory=True)
        os.environ["WORKBENCH_HOME"] = home
        try:
            yield Path(home)
        finally:
            if previous is None:
                os.environ.pop("WORKBENCH_HOME", None)
            else:
                os.environ["WORKBENCH_HOME"] = previous
