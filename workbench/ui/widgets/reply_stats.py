"""A finished reply's figures for its header line: tokens, speed, time to first token, why it ended."""

from __future__ import annotations

from typing import Any

from workbench.engine.settings import format_stop_field


def format_seconds(seconds: float) -> str:
    """'85 ms', '1.25 s', '12 s'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def reply_stats_parts(stats: dict[str, Any]) -> list[str]:
    """["12 tokens", "35.2 tok/s", "TTFT 85 ms", 'stop "User:"'], for what the stats hold.

    TTFT (time to first token) and tok/s count compute time only: in step mode the time a
    token waited for the user is left out of both."""
    parts = [f"{stats['tokens']} tokens"] if stats.get("tokens") else []
    if not parts:
        return parts
    if stats.get("tokens_per_second"):
        parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
    first = stats.get("first_token_seconds")
    if isinstance(first, (int, float)):
        parts.append(f"TTFT {format_seconds(first)}")
    stop = stats.get("stop_string")
    if stats.get("finish_reason") == "stop_sequence" and isinstance(stop, str):
        parts.append(f'stop "{format_stop_field([stop])}"')
    return parts
