"""Record a real llama.cpp server's answers for the CI protocol tests (tests/unit/test_server_llamacpp.py).

A recording proxy sits between the workbench's own server backend and a running llama-server:
every request the backend makes, and the server's answer byte for byte (SSE included), is
written to tests/recordings/llamacpp/session.json. The requests are the ones the backend
really sends, so the replay answers exactly what CI asks.

    llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --port 8091 -t 1 -c 2048 &
    python tests/recordings/record_llamacpp.py http://127.0.0.1:8091

See tests/recordings/README.md for the server version and command line used.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.backends.server import ServerBackend  # noqa: E402
from workbench.engine.settings import SamplingSettings  # noqa: E402

QUESTION = "What is the capital of France?"
OUT = Path(__file__).resolve().parent / "llamacpp" / "session.json"


class Recorder:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.exchanges: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                recorder.forward(self, None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                recorder.forward(self, self.rfile.read(length))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def forward(self, handler: BaseHTTPRequestHandler, raw: bytes | None) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        headers = {"Content-Type": "application/json"} if raw is not None else {}
        conn.request(handler.command, handler.path, body=raw, headers=headers)
        response = conn.getresponse()
        body = response.read()  # whole SSE streams too: the replay sends them as they came
        conn.close()
        streamed = "text/event-stream" in (response.getheader("Content-Type") or "")
        exchange: dict[str, Any] = {
            "method": handler.command,
            "path": handler.path,
            "status": response.status,
        }
        if raw:
            exchange["request"] = json.loads(raw)
        exchange["body"] = body.decode("utf-8")
        if streamed:
            exchange["stream"] = True
        self.exchanges.append(exchange)
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.getheader("Content-Type") or "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True


def main() -> None:
    upstream = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8091"
    recorder = Recorder(upstream)
    greedy = SamplingSettings(do_sample=False)
    messages = [{"role": "user", "content": QUESTION}]
    backend = ServerBackend.connect(recorder.url)
    # 1. the must-show request, as `workbench generate --chat --greedy --show-probs --json` sends it
    reply = backend.generation(messages=messages, settings=greedy, top_k=5)
    steps = list(reply)
    # 2. the server's own answer to the same request, not streamed
    body = dict(recorder.exchanges[-1]["request"], stream=False)
    backend.client.post_json("/v1/chat/completions", body)
    # 3. step mode: the chat prompt as ids, and the distribution after it and after 3 more tokens
    prompt_ids = backend.chat_ids(messages)
    backend.distribution(prompt_ids, top_k=5)
    backend.distribution(prompt_ids + [s.token_id for s in steps[:3]], top_k=5)
    # 4. a branch: from token 2, with the runner-up token instead of the greedy one
    runner_up = steps[1].candidates[1].token_id
    list(backend.generation(prefix_ids=prompt_ids + [steps[0].token_id, runner_up], settings=greedy, top_k=5))
    # 5. the tokenizer routes
    pieces = backend.tokenize("The capital of France is Paris. 🙂")
    backend.detokenize([p.token_id for p in pieces])
    # 6. probabilities after the sampler chain
    post = ServerBackend.connect(recorder.url, post_sampling=True)
    list(post.generation(messages=messages, settings=SamplingSettings(seed=7, max_new_tokens=12), top_k=5))
    props = json.loads(next(e["body"] for e in recorder.exchanges if e["path"] == "/props"))
    about = (
        f"recorded from llama-server build {props.get('build_info')} serving the bundled "
        "SmolLM2-135M-Instruct.Q4_1.gguf, by tests/recordings/record_llamacpp.py"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"about": about, "exchanges": recorder.exchanges}, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{len(recorder.exchanges)} exchanges -> {OUT.relative_to(ROOT)}; reply: {reply.text!r}")


if __name__ == "__main__":
    main()
