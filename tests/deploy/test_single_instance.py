"""One process per database: a second `serve` on the same file refuses to start in one line;
a process killed with -9 leaves nothing behind that stops the restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.faults.app_process import AppProcess
from tests.harness import Harness
from tests.ports import unclaimed_port

ROOT = Path(__file__).resolve().parents[2]


def second_serve(app: AppProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(unclaimed_port()),
        ],
        env=app.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_second_process_on_the_same_database_refuses_in_one_line(
    process_harness: tuple[Harness, AppProcess],
) -> None:
    _, app = process_harness
    assert app.proc is not None
    result = second_serve(app)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert app.env["DATABASE_PATH"] in lines[0]
    assert f"pid {app.proc.pid}" in lines[0] and "one process per database" in lines[0]
    assert httpx.get(f"{app.url}/healthz", timeout=10).status_code == 200  # the first runs on


def test_a_process_killed_with_9_can_be_restarted_at_once(
    process_harness: tuple[Harness, AppProcess],
) -> None:
    _, app = process_harness
    app.kill()
    app.start()  # raises unless healthy: the dead process's lock went with it
    assert second_serve(app).returncode == 1  # and the new process holds the database
