"""Record a real llama.cpp server's answers to the app itself (tests/ui/test_app_server.py).

The app runs headless against a recording proxy in front of llama-server and goes through
tests/ui/server_app_flow.py (a streamed reply, then three stepped tokens); every request it
makes and every answer, byte for byte, go to tests/recordings/llamacpp/app_session.json.

    llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --port 8091 -t 1 -c 2048 &
    WORKBENCH_HOME=$(mktemp -d) python tests/recordings/record_llamacpp_app.py http://127.0.0.1:8091
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.recordings.record_llamacpp import Recorder  # noqa: E402
from tests.ui.server_app_flow import run_flow  # noqa: E402

OUT = Path(__file__).resolve().parent / "llamacpp" / "app_session.json"


def main() -> None:
    upstream = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8091"
    recorder = Recorder(upstream)
    seen = asyncio.run(run_flow(recorder.url))
    props = json.loads(next(e["body"] for e in recorder.exchanges if e["path"] == "/props"))
    about = (
        f"recorded from llama-server build {props.get('build_info')} serving the bundled "
        "SmolLM2-135M-Instruct.Q4_1.gguf, by tests/recordings/record_llamacpp_app.py "
        "(the app's own requests, through tests/ui/server_app_flow.py)"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"about": about, "exchanges": recorder.exchanges}, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{len(recorder.exchanges)} exchanges -> {OUT.relative_to(ROOT)}")
    print("streamed:", repr(seen["streamed"].content))
    print("stepped:", repr(seen["stepped"].content))


if __name__ == "__main__":
    main()
