"""`pipedrive-maileon backup` while the app takes a burst of webhooks; `restore` into a fresh
instance: the restored database holds every webhook acknowledged before the backup started."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.app_process import AppProcess
from tests.harness import Harness
from tests.ports import unclaimed_port
from tests.waiting import wait_until
from tests.webhooks import burst, credentials

ROOT = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stored_keys(database: str) -> set[str]:
    conn = sqlite3.connect(database)
    try:
        return {row[0] for row in conn.execute("SELECT dedupe_key FROM events")}
    finally:
        conn.close()


@pytest.mark.slow
def test_backup_during_a_burst_restores_every_acknowledged_webhook(
    process_harness: tuple[Harness, AppProcess], tmp_path: Path
) -> None:
    harness, app = process_harness
    harness.setup_company()
    auth = credentials(harness)
    deliveries = burst(9000, 150, 6, name="Backup", email="backup")
    random.Random(7).shuffle(deliveries)
    acknowledged: list[str] = []
    lock = threading.Lock()

    def send(payload: dict[str, Any], client: httpx.Client) -> None:
        r = client.post(
            f"{app.url}/webhooks/pipedrive",
            json=payload,
            headers={"Authorization": auth},
            timeout=20,
        )
        assert r.status_code == 200, r.text
        with lock:
            acknowledged.append(f"pd2:{payload['meta']['id']}")

    backup = tmp_path / "backups" / "app-backup.db"
    with httpx.Client() as client, ThreadPoolExecutor(4) as senders:
        sent = [senders.submit(send, d, client) for d in deliveries]
        wait_until(lambda: len(acknowledged) >= len(deliveries) // 4, timeout=60)
        with lock:
            before_backup = set(acknowledged)
        result = cli(app.env, "backup", str(backup))
        assert result.returncode == 0, result.stderr
        assert str(backup) in result.stdout
        during = len(acknowledged)
        for future in sent:
            future.result()
    assert during < len(deliveries)  # the burst went on while the backup ran

    # A fresh instance (same ENCRYPTION_KEY: the secrets in the backup need it) on the backup.
    fresh = AppProcess(
        tmp_path / "fresh",
        unclaimed_port(),
        harness.pd_url,
        harness.ml_url,
        harness.config.client_secret,
    )
    (tmp_path / "fresh").mkdir()
    fresh.env["ENCRYPTION_KEY"] = app.env["ENCRYPTION_KEY"]
    result = cli(fresh.env, "restore", str(backup))
    assert result.returncode == 0, result.stderr
    restored = stored_keys(fresh.env["DATABASE_PATH"])
    assert before_backup <= restored  # every webhook acknowledged before the backup started
    assert restored <= set(acknowledged)

    fresh.start()
    try:
        assert httpx.get(f"{fresh.url}/healthz", timeout=10).json()["database"] == "ok"
        wait_until(
            lambda: httpx.get(f"{fresh.url}/healthz", timeout=10).json()["queue_depth"] == 0,
            timeout=120,
        )
        conn = sqlite3.connect(fresh.env["DATABASE_PATH"])
        failed = conn.execute("SELECT count(*) FROM jobs WHERE state='failed'").fetchone()[0]
        conn.close()
        assert failed == 0  # the restored instance decrypts its secrets and applies its jobs
    finally:
        fresh.stop()


def test_restore_refuses_while_the_app_runs_on_the_database(
    process_harness: tuple[Harness, AppProcess], tmp_path: Path
) -> None:
    _, app = process_harness
    backup = tmp_path / "copy.db"
    assert cli(app.env, "backup", str(backup)).returncode == 0
    result = cli(app.env, "restore", str(backup))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stop it first" in lines[0]


def test_backup_of_a_missing_database_fails_in_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "nothing.db"),
    }
    result = cli(env, "backup", str(tmp_path / "copy.db"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"pipedrive-maileon: backup failed: no database at "
        f"{tmp_path / 'nothing.db'} (check DATABASE_PATH)"
    )
    assert not (tmp_path / "nothing.db").exists() and not (tmp_path / "copy.db").exists()
