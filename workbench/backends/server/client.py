"""HTTP for an OpenAI-compatible server: JSON requests, SSE streams, time-outs, retries.

Stdlib only (``http.client``). 429 and 5xx answers are retried with exponential backoff,
honouring ``Retry-After``; each retry is reported through ``on_retry`` so a UI can say
"retrying in 2 s (503)". The API key comes from ``WORKBENCH_API_KEY``, then
``OPENAI_API_KEY``; it is sent as a bearer token and never appears in ``repr``, ``str`` or
any error message.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from workbench.backends.server.errors import ServerError, register_secret

API_KEY_VARIABLES = ("WORKBENCH_API_KEY", "OPENAI_API_KEY")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # seconds: a server asking for longer is reported, not waited on
_ERROR_SNIPPET = 200  # characters of a server's error body quoted in a message


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A base URL split into what the client needs. ``public`` has no credentials."""

    scheme: str
    host: str
    port: int
    root: str  # path prefix before /v1 ("" for most servers)
    username: str | None
    password: str | None

    @property
    def api(self) -> str:
        return self.root + "/v1"

    @property
    def public(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.api}"


def parse_url(url: str) -> Endpoint:
    """``http://host:port[/prefix][/v1]`` -> an :class:`Endpoint`; raises ``ServerError`` if unusable."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else "it"
        raise ServerError(
            f"the server URL must look like http://HOST:PORT/v1, not {shown}...", kind="unreachable"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ServerError(
            "the server URL has a port that is not a number (1-65535)", kind="unreachable"
        ) from None
    root = parts.path.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return Endpoint(
        parts.scheme,
        parts.hostname,
        port,
        root,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def api_key_from_environment() -> str | None:
    for name in API_KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """One retry about to happen: shown as ``retrying in 2 s (503)``."""

    attempt: int  # 1 for the first retry
    delay: float
    status: int

    @property
    def message(self) -> str:
        return f"retrying in {self.delay:g} s ({self.status})"


def retry_delay(headers: http.client.HTTPMessage, attempt: int, backoff: float) -> float:
    """``Retry-After`` (seconds or an HTTP date) when given, else ``backoff * 2**(attempt-1)``."""
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    return backoff * 2 ** (attempt - 1)


class HttpClient:
    """Requests to one server. Thread-safe in the sense that each request opens its own connection."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 1.0,
        on_retry: Callable[[RetryNotice], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = parse_url(url)
        self._api_key = api_key if api_key is not None else api_key_from_environment()
        register_secret(self._api_key)
        register_secret(self.endpoint.password)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self.on_retry = on_retry
        self._sleep = sleep

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"HttpClient({self.endpoint.public}, api key {key})"

    __str__ = __repr__

    @property
    def has_api_key(self) -> bool:
        return bool(self._api_key)

    # --- requests -------------------------------------------------------------------

    def get_json(self, path: str) -> Any:
        """GET ``path`` (from the server root, e.g. ``/v1/models``) and parse the JSON answer."""
        return self._json("GET", path, None)

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        return self._json("POST", path, body)

    def probe(self, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        """One GET without retries, for detection: (status, parsed JSON or None). 0 if unreachable."""
        try:
            conn, response = self._open("GET", path, None, timeout=timeout)
        except ServerError:
            return 0, None
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException):
            return response.status, None
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, None

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST ``body`` and yield each server-sent event's JSON until ``data: [DONE]``.

        Raises ``ServerError``: ``cut`` when the connection ends before ``[DONE]``,
        ``malformed`` for an event that is not JSON, ``timeout`` when the server goes quiet.
        Closing the generator closes the connection (that is how a reply is cancelled).
        """
        conn, response = self._request("POST", path, body)
        try:
            data: list[str] = []
            while True:
                try:
                    raw = response.readline()
                except TimeoutError:
                    raise self._timeout_error() from None
                except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException, OSError):
                    raise self._cut_error() from None
                if not raw:
                    raise self._cut_error()
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.startswith(":"):  # an SSE comment (llama.cpp's keep-alive pings)
                    continue
                if line:
                    field, _, value = line.partition(":")
                    if field == "data":
                        data.append(value[1:] if value.startswith(" ") else value)
                    elif field == "error":  # llama.cpp sends errors as their own event
                        data.append(value.strip())
                    continue
                if not data:
                    continue
                payload, data = "\n".join(data), []
                if payload.strip() == "[DONE]":
                    return
                event = _parse_event(payload)
                if "error" in event and "choices" not in event:
                    raise _error_from_body(event, 500, self.endpoint.public)
                yield event
        finally:
            conn.close()

    # --- plumbing -------------------------------------------------------------------

    def _json(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        conn, response = self._request(method, path, body)
        try:
            raw = response.read()
        except TimeoutError:
            raise self._timeout_error() from None
        except (http.client.HTTPException, OSError):
            raise self._cut_error() from None
        finally:
            conn.close()
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerError(
                f"{self.endpoint.public} answered {path} with something that is not JSON: "
                f"{raw[:_ERROR_SNIPPET].decode('utf-8', 'replace')!r}",
                kind="malformed",
            ) from None

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send with retries on 429/5xx; return an open 2xx response or raise ``ServerError``."""
        attempt = 0
        while True:
            conn, response = self._open(method, path, body)
            if 200 <= response.status < 300:
                return conn, response
            try:
                raw = response.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                conn.close()
            if response.status in RETRY_STATUSES and attempt < self.retries:
                attempt += 1
                delay = retry_delay(response.headers, attempt, self.backoff)
                if delay <= MAX_RETRY_AFTER:
                    if self.on_retry is not None:
                        self.on_retry(RetryNotice(attempt, delay, response.status))
                    self._sleep(delay)
                    continue
            raise _status_error(response.status, raw, path, self.endpoint.public, attempt)

    def _open(
        self, method: str, path: str, body: dict[str, Any] | None, timeout: float | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        ep = self.endpoint
        conn: http.client.HTTPConnection
        if ep.scheme == "https":
            conn = http.client.HTTPSConnection(
                ep.host, ep.port, timeout=self.connect_timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(ep.host, ep.port, timeout=self.connect_timeout)
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": "workbench"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        elif ep.username is not None:
            pair = f"{ep.username}:{ep.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.connect()
            if conn.sock is not None:  # the connect time-out is shorter than the read time-out
                conn.sock.settimeout(timeout if timeout is not None else self.timeout)
            conn.request(method, quote(path, safe="/:?=&"), body=payload, headers=headers)
            return conn, conn.getresponse()
        except TimeoutError:
            conn.close()
            raise self._timeout_error() from None
        except ConnectionRefusedError:
            conn.close()
            raise ServerError(
                f"cannot reach {ep.public}: connection refused (is the server running on port {ep.port}?)",
                kind="unreachable",
            ) from None
        except socket.gaierror as exc:
            conn.close()
            raise ServerError(
                f"cannot reach {ep.public}: the host name {ep.host!r} does not resolve ({exc.strerror})",
                kind="unreachable",
            ) from None
        except ssl.SSLError as exc:
            conn.close()
            raise ServerError(
                f"cannot reach {ep.public}: TLS failed ({exc.reason})", kind="unreachable"
            ) from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            conn.close()
            what = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ServerError(f"cannot reach {ep.public}: {what}", kind="unreachable") from None

    def _timeout_error(self) -> ServerError:
        return ServerError(
            f"{self.endpoint.public} did not answer within {self.timeout:g} s (time-out)", kind="timeout"
        )

    def _cut_error(self) -> ServerError:
        return ServerError(
            f"the connection to {self.endpoint.public} was cut before the reply ended", kind="cut"
        )


def _parse_event(payload: str) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except ValueError:
        raise ServerError(
            f"the server sent a malformed stream chunk (not JSON): {payload[:80]!r}", kind="malformed"
        ) from None
    if not isinstance(event, dict):
        raise ServerError(f"the server sent a malformed stream chunk: {payload[:80]!r}", kind="malformed")
    return event


def _error_text(body: Any) -> str:
    """The message inside OpenAI-style ``{"error": {"message": ...}}`` (and the variants servers use)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            for key in ("message", "detail", "error"):
                if isinstance(error.get(key), str):
                    return str(error[key])
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""


def _error_from_body(body: Any, status: int, where: str) -> ServerError:
    text = _error_text(body)[:_ERROR_SNIPPET] or "no details"
    return ServerError(f"{where} reported an error mid-reply: {text}", kind="server", status=status)


def _status_error(status: int, raw: bytes, path: str, where: str, retried: int) -> ServerError:
    try:
        text = _error_text(json.loads(raw))
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()
    text = text[:_ERROR_SNIPPET]
    detail = f": {text}" if text else ""
    tries = f" after {retried + 1} tries" if retried else ""
    if status in (401, 403):
        return ServerError(
            f"{where} refused the request ({status}{' unauthorized' if status == 401 else ' forbidden'}); "
            "set WORKBENCH_API_KEY (or OPENAI_API_KEY) to a key this server accepts",
            kind="auth",
            status=status,
        )
    lowered = text.lower()
    if (
        status == 404
        and path.endswith(("/completions", "/models"))
        or (
            status in (400, 404)
            and "model" in lowered
            and ("not found" in lowered or "does not exist" in lowered)
        )
    ):
        if "model" in lowered:
            return ServerError(
                f"{where} does not serve that model ({status}){detail}", kind="unknown_model", status=status
            )
        return ServerError(
            f"{where} has no {path} ({status}); is this an OpenAI-compatible server?",
            kind="refused",
            status=status,
        )
    if status == 429:
        return ServerError(
            f"{where} is rate-limiting requests (429){tries}{detail}", kind="rate_limited", status=status
        )
    if status >= 500:
        return ServerError(
            f"{where} failed with a server error ({status}){tries}{detail}", kind="server", status=status
        )
    return ServerError(f"{where} refused {path} ({status}){detail}", kind="refused", status=status)
