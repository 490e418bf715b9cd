"""A read-only data folder or a full disk at start-up is named as such, not as a damaged database,
and the database file is left exactly as it was.

Real conditions, no injected errors: each case runs in a private mount namespace
(``unshare --mount``, which needs root or user namespaces) on a small tmpfs: remounted
read-only for the read-only folder (chmod cannot do it: the tests run as root, and root writes
through permissions), and filled to the last byte for the full disk. The mount is private to
that namespace, so nothing outside it sees it. Where ``unshare``/``mount`` are not allowed the
tests skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs as root inside the namespace: sets the stage, runs the real CLI, reports in JSON.
DRIVER = r"""
import hashlib, json, os, subprocess, sys
from pathlib import Path

mount_point, case, chat = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True)
home = mount_point / "home"
home.mkdir()
env = {**os.environ, "WORKBENCH_HOME": str(home)}
db = home / "data" / "workbench.db"

def cli(*args):
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, env=env)

def digest():
    return hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else None

def fill():
    fd = os.open(mount_point / "filler", os.O_CREAT | os.O_WRONLY)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # ENOSPC: the file system is full to the last block
    finally:
        os.close(fd)

if case != "full-new":
    assert cli("sessions", "import", chat).returncode == 0
    for extra in db.parent.glob("workbench.db-*"):
        extra.unlink()  # closed cleanly: as after a normal exit
if case.startswith("read-only"):
    if case == "read-only-new":
        db.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
else:
    fill()
before = digest()
result = cli("sessions", "import", chat) if case.endswith("-new") else cli("sessions", "list")
print(json.dumps({"rc": result.returncode, "stderr": result.stderr, "before": before, "after": digest(),
                  "db": str(db), "folder": str(db.parent)}))
"""


@pytest.fixture(scope="module")
def namespaces_work(tmp_path_factory) -> None:
    point = tmp_path_factory.mktemp("probe-mount")
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("unshare/mount are not installed: no real read-only or full file system to test on")
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs tmpfs '{point}'"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a private namespace here ({probe.stderr.strip()}): needs root")


def run_case(tmp_path: Path, case: str) -> dict:
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    chat = tmp_path / "chat.json"
    chat.write_text('[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]')
    result = subprocess.run(
        ["unshare", "--mount", sys.executable, "-c", DRIVER, str(mount_point), case, str(chat)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def error_line(report: dict) -> str:
    assert report["rc"] == 1, report
    assert "Traceback" not in report["stderr"], report["stderr"]
    lines = [line for line in report["stderr"].splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), report["stderr"]
    assert "damaged" not in lines[0]
    return lines[0]


@pytest.mark.usefixtures("namespaces_work")
def test_a_read_only_data_folder_is_named_and_the_database_left_untouched(tmp_path):
    report = run_case(tmp_path, "read-only")
    line = error_line(report)
    assert f"the data folder {report['folder']} is read-only" in line
    assert "WORKBENCH_HOME" in line  # how to get going again
    assert report["before"] is not None and report["after"] == report["before"]


@pytest.mark.usefixtures("namespaces_work")
def test_a_read_only_data_folder_without_a_database_is_named(tmp_path):
    report = run_case(tmp_path, "read-only-new")  # an import must create the database
    line = error_line(report)
    assert f"the data folder {report['folder']} is read-only" in line
    assert report["after"] is None


@pytest.mark.usefixtures("namespaces_work")
def test_a_full_disk_is_named_and_the_database_left_untouched(tmp_path):
    report = run_case(tmp_path, "full")
    line = error_line(report)
    assert f"the disk holding {report['folder']} is full" in line
    assert report["before"] is not None and report["after"] == report["before"]


@pytest.mark.usefixtures("namespaces_work")
def test_a_full_disk_when_the_database_is_new_is_named(tmp_path):
    report = run_case(tmp_path, "full-new")
    line = error_line(report)
    assert f"the disk holding {report['folder']} is full" in line
