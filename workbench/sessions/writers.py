"""Which process is writing a streaming reply, and whether it is gone (killed)."""

from __future__ import annotations

import os
import socket


def writer_id() -> str:
    """Who is streaming a reply: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def writer_gone(writer: str | None) -> bool:
    """True only when the writer surely died: a process of this host that no longer exists."""
    if not writer or os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return False
    host, _, pid = writer.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, under another user
        return False
    return False
