"""Errors talking to a server. Each message is one clear line that never holds the API key."""

from __future__ import annotations

from workbench.engine.errors import WorkbenchError

# Filled by the client with every secret it sends (API key, URL password): a message that
# happens to contain one (a server echoing the header back) has it replaced before it exists.
_SECRETS: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Never let ``secret`` appear in a :class:`ServerError` message."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


class ServerError(WorkbenchError):
    """A request to the server failed; ``kind`` says how, ``status`` is the HTTP status if any.

    kinds: unreachable, auth, unknown_model, rate_limited, server, timeout, cut, malformed,
    refused (a 4xx the server explained), unsupported.
    """

    def __init__(self, message: str, kind: str = "server", status: int | None = None) -> None:
        message = redact(" ".join(message.split()))  # one line
        super().__init__(message)
        self.kind = kind
        self.status = status

    def __repr__(self) -> str:
        return f"ServerError({str(self)!r}, kind={self.kind!r}, status={self.status!r})"
