"""An OpenAI-compatible server as a backend: connect, generate, step, tokenize (stdlib HTTP)."""

from __future__ import annotations

from workbench.backends.server.backend import ServerBackend
from workbench.backends.server.errors import ServerError
from workbench.backends.server.semantics import Semantics

__all__ = ["ServerBackend", "ServerError", "Semantics"]
