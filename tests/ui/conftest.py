"""Fixtures shared by the app's Pilot tests."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def slow_endless_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each token takes 10 ms and is never EOS, so a reply is still running when a test acts."""
    from workbench.engine import sampling

    def choose(self, q):  # type: ignore[no-untyped-def]
        time.sleep(0.01)
        q = q.clone()
        q[2] = 0
        return q.argmax()

    monkeypatch.setattr(sampling.Sampler, "choose", choose)
