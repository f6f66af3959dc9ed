"""The durable queue's folding rules, on a fresh database."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import queue, tenants
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(str(tmp_path / "q.db"), SecretBox(parse_keys(new_key())))
    tenants.save_installation(s, company_id=1, company_name="A", domain="a", api_domain="x",
                              user_id=1, user_name="u", is_admin=True, access_token="a",
                              refresh_token="r", expires_in=3600, scope="")
    return s


def queue_change(store: Store, version: str, action: str = "change") -> None:
    with store.tx() as db:
        queue.upsert_job(db, 1, "person", "7", {"action": action, "v": version}, version)


def pending(store: Store) -> list[str]:
    return [r["version"] for r in store.all(
        "SELECT version FROM jobs WHERE state='pending' AND kind='person'")]


def test_newer_change_replaces_older_and_a_delete_always_wins(store: Store) -> None:
    queue_change(store, "2026-01-01T00:00:09Z")
    queue_change(store, "2026-01-01T00:00:08Z")
    assert pending(store) == ["2026-01-01T00:00:09Z"]
    queue_change(store, "2026-01-01T00:00:01Z", action="delete")
    assert pending(store) == ["2026-01-01T00:00:01Z"]
    queue_change(store, "2026-01-01T00:00:10Z")
    assert pending(store) == ["2026-01-01T00:00:01Z"]


def test_a_retried_job_keeps_its_newer_data_over_an_older_waiting_change(store: Store) -> None:
    queue_change(store, "2026-01-01T00:00:09Z")
    [job] = queue.lease(store, 8, 60)
    queue_change(store, "2026-01-01T00:00:08Z")  # a late, older delivery while 09 runs
    queue.retry_later(store, job, 0.0, "Maileon is unavailable")
    assert pending(store) == ["2026-01-01T00:00:09Z"]


def test_a_retried_job_yields_to_a_newer_waiting_change(store: Store) -> None:
    queue_change(store, "2026-01-01T00:00:08Z")
    [job] = queue.lease(store, 8, 60)
    queue_change(store, "2026-01-01T00:00:09Z")
    queue.retry_later(store, job, 0.0, "Maileon is unavailable")
    assert pending(store) == ["2026-01-01T00:00:09Z"]


def test_retry_of_a_failed_job_folds_into_a_waiting_change(store: Store) -> None:
    queue_change(store, "2026-01-01T00:00:09Z")
    [job] = queue.lease(store, 8, 60)
    queue.fail(store, job, "refused")
    queue_change(store, "2026-01-01T00:00:08Z")
    assert queue.retry_failed(store, 1) == 1
    assert pending(store) == ["2026-01-01T00:00:09Z"]
    assert store.scalar("SELECT count(*) FROM jobs WHERE state='failed'") == 0
