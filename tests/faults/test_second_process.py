"""A second process reaching the live process's database by another path (a symlink) is
refused before it touches the queue, so it never takes over the live process's leases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.faults.app_process import AppProcess
from tests.harness import Harness
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def second_serve(app: AppProcess, database: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
        env={**app.env, "DATABASE_PATH": str(database)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_a_symlinked_database_path_is_refused_while_the_first_process_runs(
    process_harness: tuple[Harness, AppProcess], tmp_path: Path
) -> None:
    harness, app = process_harness
    assert app.proc is not None
    harness.setup_company()
    link = tmp_path / "elsewhere" / "same.db"
    link.parent.mkdir()
    link.symlink_to(app.env["DATABASE_PATH"])
    # A job of the live process holds a lease: Maileon holds its answer, so it is still running.
    harness.ml("POST", "/_sim/hold", json={"path": "/1.0/contacts", "method": "POST"})
    harness.create_person(name="Leased Person", email="leased@example.com")
    wait_until(lambda: harness.ml("GET", "/_sim/hold")["held"] == 1)  # its call is in flight
    wait_until(lambda: harness.rows("SELECT 1 FROM jobs WHERE state='running' AND kind='person'"))
    leases = harness.rows("SELECT id, locked_until FROM jobs WHERE state='running'")

    try:
        result = second_serve(app, link)
    except subprocess.TimeoutExpired:
        pytest.fail("a second process started on the live database through a symlink")

    assert result.returncode == 1
    assert f"pid {app.proc.pid}" in result.stderr and "one process per database" in result.stderr
    # Its leases are untouched and the first process goes on.
    assert set(leases) <= set(harness.rows("SELECT id, locked_until FROM jobs"))
    assert httpx.get(f"{app.url}/healthz", timeout=10).status_code == 200
    harness.ml("POST", "/_sim/release")
    harness.settle(timeout=60)
    assert "leased@example.com" in harness.contacts()
