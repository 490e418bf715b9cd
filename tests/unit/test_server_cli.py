"""`workbench generate --server` and `workbench tokenize --server`: their output, and that the
server path loads neither torch, transformers nor Textual."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.unit.server_replay import ReplayServer, load

ROOT = Path(__file__).resolve().parents[2]
CHECK = (
    "import json, sys\n"
    "from workbench.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "heavy = [m for m in ('torch', 'transformers', 'textual') if m in sys.modules]\n"
    "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
)


def _run(args: list[str]) -> tuple[dict, dict]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        timeout=120,
        check=False,
    )
    status = json.loads(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout), status


def test_generate_json_records_backend_model_semantics_and_p_per_token() -> None:
    with ReplayServer(load("vllm/chat")) as server:
        data, status = _run(
            [
                "generate",
                "--server",
                server.url,
                "--chat",
                "What is the capital of France?",
                "--greedy",
                "--show-probs",
                "--json",
            ]
        )
    assert status == {"code": 0, "heavy": []}
    assert data["url"] == server.url and data["server_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert data["semantics"]["kind"] == "vllm" and data["semantics"]["probability"] == "raw"
    assert data["semantics"]["top_k_cap"] == 20 and data["capabilities"]["entropy"]["supported"] is False
    assert data["text"] == "The capital is Paris." and data["finish_reason"] == "eos"
    paris = data["tokens"][3]
    assert paris["text"] == " Paris" and paris["id"] == 7042 and "q" not in paris
    assert math.isclose(paris["p"], math.exp(-0.02))
    assert [t["label"] for t in paris["top"]] == ["␣Paris", "␣paris", "␣Lyon"]


def test_generate_json_uses_q_for_post_sampling_servers_and_null_ids_where_none_are_given() -> None:
    with ReplayServer(load("tgi/chat")) as server:
        data, status = _run(["generate", "--server", server.url, "--chat", "hi", "--greedy", "--json"])
    assert status["code"] == 0
    assert data["semantics"]["label"] == "q (server, after sampling)"
    assert all("p" not in t and t["q"] > 0 and t["id"] is None for t in data["tokens"])


def test_tokenize_json_through_the_server() -> None:
    with ReplayServer(load("tgi/chat")) as server:
        data, status = _run(["tokenize", "--server", server.url, "The capital", "--json"])
    assert status == {"code": 0, "heavy": []}
    assert data["tokenizer"] == "server"
    assert data["tokens"] == [{"id": 504, "label": "The"}, {"id": 3575, "label": "␣capital"}]
