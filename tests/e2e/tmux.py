"""Drive the real app in a real terminal: tmux, send-keys, capture-pane."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path


class TmuxApp:
    def __init__(
        self, args: list[str], width: int = 80, height: int = 24, env: dict[str, str] | None = None
    ) -> None:
        self.name = f"wb-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        environment = {**os.environ, **(env or {}), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        exports = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in environment.items()
            if k.startswith(("WORKBENCH", "HF_", "TOKENIZERS", "PATH", "HOME", "TERM", "COLORTERM", "PYTHON"))
        )
        command = f"env {exports} {shlex.quote(sys.executable)} -m workbench {' '.join(shlex.quote(a) for a in args)}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), command],
            check=True,
        )
        subprocess.run(["tmux", "set-option", "-t", self.name, "remain-on-exit", "on"], check=True)

    def screen(self) -> str:
        result = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def raw_screen(self) -> str:
        """With escape sequences (-e), to check what reached the terminal."""
        result = subprocess.run(
            ["tmux", "capture-pane", "-p", "-e", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        command = ["tmux", "send-keys", "-t", self.name]
        if literal:
            command.append("-l")
        subprocess.run([*command, *keys], check=True)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)

    def wait_for(self, predicate, timeout: float = 120, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen) if callable(predicate) else predicate in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what or predicate!r}; screen:\n{screen}")

    def dead(self) -> bool:
        result = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.name, "#{pane_dead}"], capture_output=True, text=True
        )
        return result.stdout.strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def read_marker(path: Path, timeout: float = 60) -> dict:
    import json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return json.loads(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")
