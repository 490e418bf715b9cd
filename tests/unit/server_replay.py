"""An in-process HTTP server (http.server in a thread on 127.0.0.1) that replays recordings.

A recording (tests/recordings/<server>/*.json) is a list of exchanges:
``{"method", "path", "status", "headers"?, "json"? | "sse"? | "body"?, "match"?, "answers"?}``.
- ``json``: the answer body; ``sse``: event payloads sent as ``data: X`` events (chunked),
  ``body``: raw text (what a recorder captured byte for byte, SSE included).
- ``match``: request fields that must be equal for this exchange to answer (else the next).
- ``answers`` + ``key``: a table from ``json.dumps(request[key])`` to the answer body.
Exchanges of one method and path answer in order; the last one repeats.

Faults are exchanges too: ``"cut_after": N`` sends N events then drops the connection mid
chunked body; ``"delay": s`` waits before answering (time-outs).
Every request is kept in ``requests`` (method, path, headers, body) for the tests to read.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def load(name: str) -> list[dict[str, Any]]:
    """``"llamacpp/chat_greedy"`` -> its exchanges."""
    data = json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))
    return list(data["exchanges"])


class ReplayServer:
    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = exchanges
        self.requests: list[dict[str, Any]] = []
        self._used: dict[int, int] = {}
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                replay._answer(self, None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                replay._answer(self, json.loads(raw) if raw else None)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def bodies(self, path: str) -> list[Any]:
        return [r["body"] for r in self.requests if r["path"] == path]

    def _pick(self, method: str, path: str, body: Any) -> dict[str, Any] | None:
        with self._lock:
            candidates = [
                (n, ex)
                for n, ex in enumerate(self.exchanges)
                if ex["method"] == method
                and ex["path"] == path
                and all(isinstance(body, dict) and body.get(k) == v for k, v in ex.get("match", {}).items())
                and _same_request(ex.get("request"), body)
            ]
            if not candidates:
                return None
            for n, ex in candidates:
                if not self._used.get(n):
                    self._used[n] = 1
                    return ex
            return candidates[-1][1]

    def _answer(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        path = handler.path.split("?")[0]
        self.requests.append(
            {"method": handler.command, "path": path, "headers": dict(handler.headers), "body": body}
        )
        ex = self._pick(handler.command, path, body)
        if ex is None:
            self._send(handler, 404, {"error": {"message": f"no route {path}", "code": 404}})
            return
        if ex.get("delay"):
            time.sleep(float(ex["delay"]))
        status = int(ex.get("status", 200))
        headers = dict(ex.get("headers", {}))
        if "answers" in ex:
            key = json.dumps(body.get(ex["key"]) if isinstance(body, dict) else None)
            answer = ex["answers"].get(key)
            if answer is None:
                self._send(handler, 400, {"error": {"message": f"no recorded answer for {key}"}})
            else:
                self._send(handler, status, answer, headers)
            return
        if "sse" in ex or ("body" in ex and ex.get("stream")):
            events = [f"data: {e}\n\n" for e in ex["sse"]] if "sse" in ex else [ex["body"]]
            self._stream(handler, status, events, ex.get("cut_after"), headers)
            return
        if "body" in ex:
            self._send_raw(handler, status, ex["body"].encode(), headers)
            return
        self._send(handler, status, ex.get("json", {}), headers)

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, data: Any, headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(handler, status, json.dumps(data).encode(), headers)

    def _send_raw(
        self, handler: BaseHTTPRequestHandler, status: int, raw: bytes, headers: dict[str, str] | None
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(raw)
        handler.close_connection = True

    def _stream(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        events: list[str],
        cut_after: int | None,
        headers: dict[str, str],
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        # the client may close the stream early (a cancelled reply, or one it finished reading)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._write_events(handler, events, cut_after)
        handler.close_connection = True

    def _write_events(
        self, handler: BaseHTTPRequestHandler, events: list[str], cut_after: int | None
    ) -> None:
        for n, event in enumerate(events):
            if cut_after is not None and n >= cut_after:
                handler.wfile.flush()
                # drop the connection mid chunked body, as a crashed or restarted server does
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
                return
            raw = event.encode()
            handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")


# What makes two requests the same question (a recorded request may differ in field order or in
# fields that do not change the answer's shape).
_MATCH_KEYS = (
    "messages",
    "prompt",
    "content",
    "tokens",
    "stream",
    "post_sampling_probs",
    "max_tokens",
    "n_probs",
)


def _same_request(recorded: Any, body: Any) -> bool:
    if recorded is None:
        return True
    if not isinstance(body, dict):
        return False
    return all(recorded.get(k) == body.get(k) for k in _MATCH_KEYS)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
