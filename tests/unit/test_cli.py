"""`pipedrive-maileon serve` refuses to start without configuration, in one line; the demo
cleans up after itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.demo_process import start_demo
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_serve_without_client_id_exits_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "serve"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1
    assert "PIPEDRIVE_CLIENT_ID" in lines[0]


def test_help_lists_serve_and_demo() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "serve" in result.stdout and "demo" in result.stdout


def test_demo_removes_its_temporary_database_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    demo, _, printed = start_demo(cwd=tmp_path, env=env)
    try:
        match = re.search(
            r"Database: (\S+) \(a temporary file, removed when the demo stops\)", printed
        )
        assert match, printed
        database = Path(match.group(1))
        assert database.parent.parent == tmp_path
        wait_until(lambda: database.exists(), timeout=30)  # the app is up
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
        assert not database.parent.exists()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
