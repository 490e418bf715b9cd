"""Drive the real app in a real terminal: tmux, send-keys, capture-pane."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

WORKBENCH = Path(sys.executable).with_name("workbench")  # the console script pip installed


class TmuxApp:
    def __init__(
        self,
        args: list[str],
        width: int = 80,
        height: int = 24,
        env: dict[str, str] | None = None,
        program: list[str] | None = None,
    ) -> None:
        """Run the installed ``workbench`` console script with ARGS, or ``program + ARGS`` (make…)."""
        self.name = f"wb-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        environment = {**os.environ, **(env or {}), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        exports = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in environment.items()
            if k.startswith(("WORKBENCH", "HF_", "TOKENIZERS", "PATH", "HOME", "TERM", "COLORTERM", "PYTHON"))
        )
        argv = [*(program or [str(WORKBENCH)]), *args]
        # exec: the pane's process is the program itself, so its exit status is the pane's
        command = f"exec env {exports} {' '.join(shlex.quote(a) for a in argv)}"
        new_session = ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height)]
        # A tmux server whose last session just closed is exiting: a new session asked for at that
        # moment fails once (seen in a full run); ask again before giving up.
        for attempt in range(3):
            started = subprocess.run([*new_session, command], capture_output=True, text=True)
            if started.returncode == 0:
                break
            time.sleep(0.5 * (attempt + 1))
        else:
            raise AssertionError(f"tmux new-session failed: {started.stderr.strip()}")
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

    def info(self, fmt: str) -> str:
        """A tmux format about the pane, e.g. ``#{pane_pid}``, ``#{alternate_on}``."""
        result = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.name, fmt], capture_output=True, text=True
        )
        return result.stdout.strip()

    def pids(self) -> list[int]:
        """The pane's process and all its descendants (read from /proc)."""
        return process_tree(int(self.info("#{pane_pid}")))

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


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_gone(pids: list[int], timeout: float) -> float:
    """Seconds until every pid is gone; raises after ``timeout`` naming those still running."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not any(alive(pid) for pid in pids):
            return time.monotonic() - start
        time.sleep(0.02)
    left = [f"{pid} {command_line(pid)}" for pid in pids if alive(pid)]
    raise AssertionError(f"still running {timeout:.0f} s later: {left}")
