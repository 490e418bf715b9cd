"""The app attached to a server (workbench --server URL), against a real llama.cpp server's
recorded answers to this very flow (tests/recordings/record_llamacpp_app.py): the chart names
its source, a streamed reply is the server's own text with the server's own numbers, step
mode goes one token-id request per token, and the session records the backend, not the key."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from tests.ui.server_app_flow import run_flow
from tests.unit.server_replay import ReplayServer, load
from workbench.paths import data_dir

KEY = "sk-test-never-stored-3141"


def _sse_reply(body: str) -> tuple[str, list[float]]:
    """The streamed text and each token's exp(logprob), from the recorded SSE body."""
    text, probs = "", []
    for line in body.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        for choice in event.get("choices", []):
            text += choice.get("delta", {}).get("content") or ""
            for entry in (choice.get("logprobs") or {}).get("content") or []:
                probs.append(math.exp(entry["logprob"]))
    return text, probs


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_API_KEY", KEY)
    exchanges = load("llamacpp/app_session")
    with ReplayServer(exchanges) as server:
        yield server, exchanges


async def test_the_app_streams_steps_and_saves_a_server_reply(replay) -> None:
    server, exchanges = replay
    seen = await run_flow(server.url)

    # the chart and status line say where the numbers come from
    assert "p (server, raw)" in seen["title"]
    assert "server (llamacpp)" in seen["status"]
    assert "entropy not given" in seen["chart"] and "nan" not in seen["chart"].lower()

    # the streamed reply is the server's own text, each token with the server's own p
    chat = next(e for e in exchanges if e["path"] == "/v1/chat/completions")
    text, probs = _sse_reply(chat["body"])
    streamed = seen["streamed"]
    assert streamed.content == text and text
    assert len(streamed.steps) == len(probs)
    for step, p in zip(streamed.steps, probs, strict=True):
        assert abs(step.p - p) < 1e-6 and math.isnan(step.q) and math.isnan(step.entropy)
        assert step.token_id >= 0  # llama.cpp sends ids

    # step mode: g, g, then candidate 2 of the paused distribution; each request continues
    # from exactly the ids chosen so far
    stepped = seen["stepped"].steps
    assert len(stepped) == 3
    paused = seen["paused"]
    assert stepped[0].token_id == paused[0][0].token_id and stepped[0].chosen_by == "greedy"
    assert stepped[1].token_id == paused[1][0].token_id
    assert stepped[2].token_id == paused[2][1].token_id and stepped[2].chosen_by == "user"
    assert stepped[2].p == paused[2][1].p and stepped[2].rank == 2
    prompts = [r["body"]["prompt"] for r in server.requests if r["path"] == "/v1/completions"]
    assert len(prompts) >= 3
    base = prompts[0]
    for n in (1, 2):
        assert prompts[n] == base + [s.token_id for s in stepped[:n]]
    assert seen["stepped"].status == "stopped" or seen["stepped"].finish_reason == "cancelled"

    # the key went to the server, and nowhere else
    assert all(r["headers"].get("Authorization") == f"Bearer {KEY}" for r in server.requests)
    db = data_dir() / "workbench.db"
    raw = db.read_bytes()
    assert KEY.encode() not in raw
    with sqlite3.connect(db) as conn:
        (provenance,) = conn.execute(
            "SELECT provenance FROM sessions WHERE id = ?", (seen["session_id"],)
        ).fetchone()
    record = json.loads(provenance)
    assert record["backend"] == "server" and record["url"] == server.url.rstrip("/")
    assert record["semantics"]["label"] == "p (server, raw)"

    # resumed later without --server, the session goes back to its server (no model loaded)
    from tests.ui.helpers import greedy_config, wait_until
    from workbench.ui.app import WorkbenchApp

    app = WorkbenchApp(greedy_config(), save_settings=False, resume=str(seen["session_id"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.server is not None, what="the saved server attached")
        assert app.server is not None and app.server.public_url == record["url"]
        assert app.loaded is None and app._loading is None  # no in-process model was loaded
        assert "p (server, raw)" in str(app.chart.border_title)
        assert app.conversation.turns[app.conversation.leaf].content == seen["stepped"].content


async def test_a_stream_cut_mid_reply_keeps_the_partial_reply_marked_and_saved() -> None:
    from tests.ui.helpers import greedy_config, wait_until
    from tests.unit.test_server_faults import _with_chat
    from workbench.sessions.store import SessionStore
    from workbench.ui.app import WorkbenchApp

    events = load("openai/chat")[1]["sse"]
    with ReplayServer(_with_chat({"status": 200, "sse": events, "cut_after": 3})) as server:
        app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False, server=(server.url, None))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.server is not None)
            app.send("What is the capital of France?")
            await wait_until(pilot, lambda: app.reply is None and len(app.conversation.turns) >= 2)
            turn = app.conversation.turns[app.conversation.leaf]
            assert turn.content == "The capital" and turn.status == "error"
            assert turn.error == f"the connection to {server.url} was cut before the reply ended"
            assert app.is_running  # the app stays up
            app.sync.flush()
            session_id = app.sync.session_id
    store = SessionStore(data_dir() / "workbench.db")
    saved = [m for m in store.messages(session_id) if m.role == "assistant"]
    assert saved[0].content == "The capital" and saved[0].status == "error"


async def test_f4_attaches_to_a_server_and_shows_it() -> None:
    """F4's Server row: a URL (and model) and Enter attach the app to that server."""
    from tests.ui.helpers import greedy_config, wait_until
    from workbench.ui.app import WorkbenchApp

    with ReplayServer(load("llamacpp/app_session")) as server:
        app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            field = app.query_one("#set-server")
            field.focus()
            await pilot.pause()
            field.value = server.url  # type: ignore[attr-defined]
            await pilot.pause()
            assert str(app.query_one("#set-load").label) == "Attach to server"  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.server is not None, what="attached from F4")
            assert "p (server, raw)" in str(app.chart.border_title)
            assert app.query_one("#set-server-model").value == app.server.model  # type: ignore[attr-defined,union-attr]
            assert app.model_ready and app.loaded is None


async def test_f3_splits_text_through_the_servers_tokenize_without_a_local_tokenizer() -> None:
    """The served model is neither a file here nor in the HF cache: F3's Text view asks the
    server's /tokenize (recorded from llama-server) and shows its ids."""
    from tests.ui.helpers import greedy_config, wait_until
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.widgets.token_chips import TokenChips

    exchanges = [
        e
        for e in load("llamacpp/session")
        if e["path"] != "/v1/models"
        and not (e["path"] == "/tokenize" and "with_pieces" not in e.get("request", {}))
    ]
    models = {"object": "list", "data": [{"id": "nowhere/not-cached-model", "owned_by": "llamacpp"}]}
    exchanges.insert(0, {"method": "GET", "path": "/v1/models", "status": 200, "json": models})
    with ReplayServer(exchanges) as server:
        app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False, server=(server.url, None))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.server is not None)
            pane = app._tokenizer_pane
            await wait_until(
                pilot, lambda: pane._server_split is not None, what="F3 on the server's /tokenize"
            )
            await pilot.press("f3")
            app.query_one("#tok-input").text = "The capital of France is Paris. 🙂"  # type: ignore[attr-defined]
            chips = app.query_one("#tok-chips", TokenChips)
            await wait_until(pilot, lambda: len(chips.spans) == 8, what="the server's split")
            assert [s.token_id for s in chips.spans] == [504, 3575, 282, 4649, 314, 7042, 30, 47526]
            assert chips.spans[1].label == "␣capital"
            assert "server's /tokenize" in str(app.query_one("#tok-counts").content)  # type: ignore[attr-defined]


async def test_step_mode_is_refused_with_the_reason_on_a_text_only_server() -> None:
    from tests.ui.helpers import greedy_config, wait_until
    from workbench.ui.app import WorkbenchApp

    with ReplayServer(load("openai/chat")) as server:
        app = WorkbenchApp(greedy_config(), autoload=False, save_settings=False, server=(server.url, None))
        notes: list[str] = []
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.server is not None)
            app.action_toggle_step_mode()
            assert not app.step_mode
            assert any("Step mode is not available" in n and "text prompts only" in n for n in notes), notes
