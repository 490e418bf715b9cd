"""Network faults are ordinary: each gets one clear line, a partial reply is kept and marked,
and the API key never leaks (repr, str, errors, --json, stderr)."""

from __future__ import annotations

import json
import threading

import pytest

from tests.unit.server_replay import ReplayServer, free_port, load
from workbench.backends.server import ServerBackend, ServerError
from workbench.backends.server.client import HttpClient, RetryNotice
from workbench.engine.settings import SamplingSettings

GREEDY = SamplingSettings(do_sample=False)
CHAT = [{"role": "user", "content": "What is the capital of France?"}]
KEY = "sk-test-9f8e7d6c5b4a"


def _with_chat(fault: dict) -> list[dict]:
    """The OpenAI-kind fixture with its chat answer replaced or preceded by ``fault``."""
    exchanges = load("openai/chat")
    return [exchanges[0], {"method": "POST", "path": "/v1/chat/completions", **fault}, *exchanges[1:]]


def test_an_unreachable_port_is_one_clear_line() -> None:
    port = free_port()
    with pytest.raises(
        ServerError, match=f"cannot reach http://127.0.0.1:{port}/v1: connection refused"
    ) as info:
        ServerBackend.connect(f"http://127.0.0.1:{port}/v1")
    assert info.value.kind == "unreachable" and "\n" not in str(info.value)


def test_401_says_which_variable_holds_the_key() -> None:
    exchanges = [
        {
            "method": "GET",
            "path": "/v1/models",
            "status": 401,
            "json": {"error": {"message": "Invalid API key"}},
        }
    ]
    with ReplayServer(exchanges) as server, pytest.raises(ServerError, match="WORKBENCH_API_KEY") as info:
        ServerBackend.connect(server.url, retries=0)
    assert info.value.kind == "auth" and info.value.status == 401


def test_an_unknown_model_lists_what_the_server_has() -> None:
    with (
        ReplayServer(load("openai/chat")) as server,
        pytest.raises(ServerError, match="it serves: gpt-4o-mini") as info,
    ):
        ServerBackend.connect(server.url, "gpt-9")
    assert info.value.kind == "unknown_model"


def test_429_then_success_is_retried_and_the_retry_reported() -> None:
    notices: list[RetryNotice] = []
    rate_limited = {
        "status": 429,
        "headers": {"Retry-After": "0"},
        "json": {"error": {"message": "slow down"}},
    }
    with ReplayServer(_with_chat(rate_limited)) as server:
        backend = ServerBackend.connect(server.url, on_retry=notices.append)
        generation = backend.generation(messages=CHAT, settings=GREEDY, top_k=2)
        list(generation)
        assert len(server.bodies("/v1/chat/completions")) == 2
    assert generation.text == "The capital is Paris." and generation.error is None
    assert [(n.attempt, n.status, n.delay) for n in notices] == [(1, 429, 0.0)]
    assert notices[0].message == "retrying in 0 s (429)"


def test_5xx_that_persists_ends_the_reply_with_the_status_and_the_tries() -> None:
    failing = {"status": 503, "json": {"error": {"message": "overloaded"}}}
    exchanges = _with_chat(failing)[:2]  # no success after it: the 503 repeats
    notices: list[RetryNotice] = []
    with ReplayServer(exchanges) as server:
        backend = ServerBackend.connect(server.url, retries=2, backoff=0.0, on_retry=notices.append)
        generation = backend.generation(messages=CHAT, settings=GREEDY)
        assert list(generation) == []
    assert generation.finish_reason == "error"
    assert generation.error == f"{server.url} failed with a server error (503) after 3 tries: overloaded"
    assert [n.message for n in notices] == ["retrying in 0 s (503)", "retrying in 0 s (503)"]


def test_a_server_that_goes_quiet_times_out() -> None:
    with ReplayServer(_with_chat({"delay": 1.0, "status": 200, "json": {}})) as server:
        backend = ServerBackend.connect(server.url, timeout=0.2)
        generation = backend.generation(messages=CHAT, settings=GREEDY)
        list(generation)
    assert generation.finish_reason == "error"
    assert generation.error == f"{server.url} did not answer within 0.2 s (time-out)"


def test_a_stream_cut_mid_reply_keeps_the_partial_text_and_says_so() -> None:
    events = load("openai/chat")[1]["sse"]
    with ReplayServer(_with_chat({"status": 200, "sse": events, "cut_after": 3})) as server:
        backend = ServerBackend.connect(server.url)
        generation = backend.generation(messages=CHAT, settings=GREEDY, top_k=2)
        steps = list(generation)
    assert [s.text for s in steps] == ["The", " capital"]  # the role chunk, then two tokens
    assert generation.text == "The capital" and generation.finish_reason == "error"
    assert generation.error == f"the connection to {server.url} was cut before the reply ended"


def test_a_malformed_chunk_ends_the_reply_keeping_what_came_before() -> None:
    events = load("openai/chat")[1]["sse"]
    broken = [*events[:2], '{"choices": [{"delta": {"content": "x"', *events[2:]]
    with ReplayServer(_with_chat({"status": 200, "sse": broken})) as server:
        backend = ServerBackend.connect(server.url)
        generation = backend.generation(messages=CHAT, settings=GREEDY)
        list(generation)
    assert generation.text == "The" and generation.finish_reason == "error"
    assert (generation.error or "").startswith("the server sent a malformed stream chunk (not JSON)")


def test_an_error_event_mid_stream_is_reported() -> None:
    events = load("openai/chat")[1]["sse"]
    failing = [*events[:3], json.dumps({"error": {"message": "slot crashed", "code": 500}})]
    with ReplayServer(_with_chat({"status": 200, "sse": failing})) as server:
        generation = ServerBackend.connect(server.url).generation(messages=CHAT, settings=GREEDY)
        list(generation)
    assert generation.text == "The capital" and "slot crashed" in (generation.error or "")


def test_cancel_stops_between_chunks() -> None:
    cancel = threading.Event()
    with ReplayServer(load("openai/chat")) as server:
        generation = ServerBackend.connect(server.url).generation(
            messages=CHAT, settings=GREEDY, cancel=cancel
        )
        for _step in generation:
            cancel.set()
    assert generation.finish_reason == "cancelled" and generation.text == "The"


def test_the_api_key_is_sent_but_never_shown(monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORKBENCH_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other-should-not-be-used")
    echoing = {"status": 400, "json": {"error": {"message": f"bad request from Bearer {KEY}"}}}
    with ReplayServer(_with_chat(echoing)) as server:
        backend = ServerBackend.connect(server.url)
        generation = backend.generation(messages=CHAT, settings=GREEDY)
        list(generation)
        sent = server.requests[0]["headers"]["Authorization"]
    assert sent == f"Bearer {KEY}"
    assert generation.error is not None and "***" in generation.error
    shown = [
        repr(backend),
        str(backend),
        repr(backend.client),
        generation.error,
        json.dumps(backend.describe()),
    ]
    assert not any(KEY in text for text in shown)

    from workbench.cli import main

    with ReplayServer(_with_chat(echoing)) as server:
        code = main(
            ["generate", "--server", server.url, "--chat", "hi", "--greedy", "--json", "--show-probs"]
        )
    out, err = capsys.readouterr()
    assert code == 1 and "***" in err
    assert KEY not in out and KEY not in err


def test_openai_api_key_is_the_fallback(monkeypatch) -> None:
    monkeypatch.delenv("WORKBENCH_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    client = HttpClient("http://127.0.0.1:1/v1")
    assert client.has_api_key and KEY not in repr(client)


def test_credentials_in_the_url_are_used_but_never_recorded(monkeypatch) -> None:
    monkeypatch.delenv("WORKBENCH_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ReplayServer(load("openai/chat")) as server:
        url = server.url.replace("http://", "http://alice:hunter2-secret@")
        backend = ServerBackend.connect(url)
        auth = server.requests[0]["headers"]["Authorization"]
    assert auth.startswith("Basic ")
    assert backend.public_url == server.url
    assert "hunter2" not in repr(backend) and "hunter2" not in json.dumps(backend.describe())
