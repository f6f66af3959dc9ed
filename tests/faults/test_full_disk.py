"""A full disk under the app's database: the worker says so within seconds, keeps trying, and
applies every change once space is free again, without a restart.

The database lives on a small tmpfs this test mounts (the machine's own disk is never filled),
so SQLite meets a real ENOSPC (SQLITE_FULL) exactly as on a full volume."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from store import queue
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store
from tests.conftest import running_harness
from tests.harness import Harness
from tests.unit.conftest import add_company
from tests.waiting import wait_until


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, database: Path) -> Path:
    """Empty the WAL into the database file, then fill every free byte: the app's next write
    needs new WAL space and meets ENOSPC."""
    conn = sqlite3.connect(database, timeout=10)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            for size in (1 << 16, 4096, 512, 1):
                chunk = b"\0" * size
                while True:
                    out.write(chunk)
                    out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def worker_failing(harness: Harness) -> str | None:
    body = httpx.get(f"{harness.app_url}/healthz", timeout=10).json()
    failing: str | None = body["worker"]["failing"]
    return failing if body["status"] == "degraded" else None


@pytest.mark.slow
def test_after_a_full_disk_the_worker_applies_changes_again_without_a_restart(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        database = disk / "app.db"
        # A change is due two seconds after the webhook: time to fill the disk before its lease.
        with running_harness(
            tmp_path,
            database_path=str(database),
            debounce_seconds=2.0,
            debounce_max_seconds=4.0,
        ) as harness:
            admin = harness.setup_company()
            harness.settle(timeout=30)
            harness.create_person(name="Before Full", email="before.full@example.com")
            wait_until(lambda: harness.rows("SELECT 1 FROM jobs WHERE kind='person'"))
            filler = fill(disk, database)

            # Leasing the due job meets the full disk: health says so within seconds.
            wait_until(lambda: worker_failing(harness), timeout=6)
            assert "full" in (worker_failing(harness) or "")
            card = admin.get(f"{harness.app_url}/settings/health").text
            assert "Syncing is stalled" in card and "database or disk is full" in card
            assert "before.full@example.com" not in harness.contacts()

            filler.unlink()  # space again: no restart
            wait_until(lambda: "before.full@example.com" in harness.contacts(), timeout=20)
            wait_until(lambda: worker_failing(harness) is None, timeout=10)
            harness.create_person(name="After Full", email="after.full@example.com")
            harness.settle(timeout=30)
            assert "after.full@example.com" in harness.contacts()
            assert "Syncing is stalled" not in admin.get(f"{harness.app_url}/settings/health").text


def test_a_job_whose_outcome_meets_the_full_disk_does_not_sit_out_its_lease(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        database = disk / "app.db"
        with running_harness(tmp_path, database_path=str(database)) as harness:
            harness.setup_company()
            harness.settle(timeout=30)
            # The job is in its Maileon call while the disk fills: storing its outcome fails.
            harness.ml("POST", "/_sim/latency", json={"ms": 1500})
            harness.create_person(name="Mid Call", email="mid.call@example.com")
            wait_until(lambda: harness.maileon.faults.in_flight)
            filler = fill(disk, database)
            wait_until(lambda: worker_failing(harness), timeout=10)
            harness.ml("POST", "/_sim/latency", json={"ms": 0})

            filler.unlink()
            # Stored as soon as the database works, not after the two-minute lease.
            harness.settle(timeout=20)
            assert "mid.call@example.com" in harness.contacts()
            assert not harness.rows("SELECT id FROM jobs WHERE state='running'")


def test_a_commit_that_meets_the_full_disk_reports_the_full_disk(tmp_path: Path) -> None:
    """Intake's COMMIT fails and SQLite ends the transaction itself: the error the caller
    (and the log) sees is the full disk, not the ROLLBACK's "no transaction is active"."""
    with small_disk(tmp_path / "disk", size="2m") as disk:
        store = Store(str(disk / "app.db"), SecretBox(parse_keys(new_key())))
        add_company(store, 1)
        try:
            fill(disk, disk / "app.db")
            event = queue.IncomingEvent(
                1, "pipedrive", "k1", "person", "7", "{}", "person", "{}", "1", "change"
            )
            with pytest.raises(sqlite3.OperationalError, match="full"):
                queue.record_events(store, [event])
            assert not store.db.conn.in_transaction  # the connection works on
        finally:
            store.close()
