"""Issue #13, item 10: a person deleted or merged away keeps no address in the app; raw
webhook bodies, finished jobs and sync-log lines are kept for RETENTION_DAYS."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from appconfig import from_env
from tests.conftest import running_harness
from tests.harness import Harness
from tests.waiting import wait_until


def tombstone(harness: Harness, person_id: int) -> dict[str, object]:
    conn = sqlite3.connect(harness.config.database_path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM persons WHERE person_id=?", (person_id,)).fetchone()
        return dict(row)
    finally:
        conn.close()


def test_deleted_and_merged_persons_keep_no_address(harness: Harness) -> None:
    harness.setup_company()
    gone = harness.create_person(name="Gone Person", email="gone@example.com")
    loser = harness.create_person(name="Merged Away", email="merged@example.com")
    survivor = harness.create_person(name="Survivor", email="survivor@example.com")
    harness.settle()
    assert tombstone(harness, gone["id"])["email"] == "gone@example.com"
    harness.pd("DELETE", f"/_sim/persons/{gone['id']}")
    harness.pd("POST", f"/_sim/persons/{loser['id']}/merge", json={"into": survivor["id"]})
    harness.settle()
    for person in (gone, loser):
        row = tombstone(harness, person["id"])
        assert row["deleted"] == 1
        assert row["email"] == "" and row["data_hash"] == "" and row["last_error"] == ""
        assert not any(
            "@" in str(v) or "Gone" in str(v) or "Merged" in str(v) for v in row.values()
        )
    assert tombstone(harness, survivor["id"])["email"] == "survivor@example.com"


@pytest.fixture
def one_second_retention(tmp_path: Path) -> Iterator[Harness]:
    with running_harness(tmp_path, retention_days=1 / 86400) as h:
        yield h


def test_events_and_log_lines_are_kept_for_the_retention_setting(
    one_second_retention: Harness,
) -> None:
    harness = one_second_retention
    harness.setup_company()
    harness.create_person(name="Short Lived", email="short@example.com")
    harness.settle()
    assert harness.rows("SELECT count(*) FROM events")[0][0] > 0
    conn = sqlite3.connect(harness.config.database_path)
    with conn:  # a day passes: the daily prune is due now
        conn.execute("UPDATE jobs SET run_after=0 WHERE kind='periodic.prune' AND state='pending'")
    conn.close()

    def pruned() -> bool:
        personal = harness.rows("SELECT count(*) FROM sync_log WHERE message LIKE '%Short%'")
        return harness.rows("SELECT count(*) FROM events") == [(0,)] and personal == [(0,)]

    wait_until(pruned, timeout=20)


def test_retention_is_a_documented_setting() -> None:
    base = {
        "PIPEDRIVE_CLIENT_ID": "id",
        "PIPEDRIVE_CLIENT_SECRET": "secret",
        "APP_URL": "https://app.example.com",
        "SECRET_KEY": "s" * 40,
        "ENCRYPTION_KEY": "ab" * 32,
    }
    assert from_env(base).retention_days == 14
    assert from_env({**base, "RETENTION_DAYS": "30"}).retention_days == 30
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`RETENTION_DAYS`" in readme
    assert "Personal data: what is stored, where, for how long" in readme
