"""Arrows point one way (DESIGN.md): the CLI and its commands never import the UI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "workbench"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_cli_and_its_commands_import_nothing_from_ui():
    files = [ROOT / "cli.py", *sorted((ROOT / "commands").glob("*.py"))]
    assert len(files) > 5
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.startswith("workbench.ui"))
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_backends_import_neither_the_ui_nor_textual():
    files = sorted((ROOT / "backends").rglob("*.py"))
    assert len(files) >= 3
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.startswith(("workbench.ui", "textual"))
        )
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_a_server_reply_needs_no_torch():
    """Replies from a server run without torch: importing it on the UI thread while a worker
    imports transformers raced transformers' lazy module (ImportError: DynamicCache)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import workbench.backends.server.replies, workbench.engine.stepping, workbench.ui.reply\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
