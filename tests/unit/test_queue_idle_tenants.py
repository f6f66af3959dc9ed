"""Issue 29: a lease costs the same however many idle tenants there are (their periodic runs
scheduled later), and what becomes due by any path is still leased."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from store import queue, tenants
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store
from sync.engine.schedule import ensure_periodic
from tests.unit.conftest import add_company

BACKLOG = 300


def fresh_store(path: Path, tenant_count: int) -> Store:
    """Company 1 with a backlog of due person jobs; `tenant_count - 1` more installed
    companies with nothing due (their periodic jobs an hour or more away)."""
    store = Store(str(path), SecretBox(parse_keys(new_key())))
    with store.tx() as db:
        for cid in range(1, tenant_count + 1):
            tenants.upsert_company(store, db, cid, f"C{cid}", f"c{cid}", "https://x.example")
    ensure_periodic(store, 1.0)
    with store.tx() as db:
        db.execute("UPDATE jobs SET run_after=run_after+3600")
        for n in range(BACKLOG):
            queue.upsert_job(db, 1, "person", str(n), {"action": "change"})
    return store


@contextmanager
def counted_steps(store: Store) -> Iterator[list[int]]:
    """SQLite virtual-machine steps (in hundreds) run meanwhile: the lease's work, not the
    busy machine's clock."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    store.db.conn.set_progress_handler(tick, 100)
    try:
        yield steps
    finally:
        store.db.conn.set_progress_handler(None, 0)


def lease_steps(store: Store) -> int:
    """Steps of the worker's chunk leases that take the whole backlog."""
    total, leased = 0, 0
    while leased < BACKLOG:
        with counted_steps(store) as steps:
            jobs = queue.lease(store, 100, 60, 208, chunk=100)
        assert jobs and all(job.company_id == 1 for job in jobs)
        total += steps[0]
        leased += len(jobs)
        for job in jobs:
            queue.finish(store, job, "ok")
    return total


def test_a_lease_costs_the_same_with_a_thousand_idle_tenants(tmp_path: Path) -> None:
    alone = lease_steps(fresh_store(tmp_path / "one.db", 1))
    among = lease_steps(fresh_store(tmp_path / "many.db", 1_000))
    # before: the lease walked every company with a pending job (periodic ones included)
    assert among <= alone * 1.2, (among, alone)


def test_work_that_becomes_due_later_is_leased(store: Store) -> None:
    add_company(store, 2, "B")
    with store.tx() as db:
        queue.upsert_job(db, 1, "person", "7", {"action": "change"}, delay=3600)
    assert queue.lease(store, 8, 60) == []  # the lease learns company 1's next due time

    # an earlier change of the same company, while its known due time is an hour away
    with store.tx() as db:
        queue.upsert_job(db, 1, "person", "8", {"action": "change"})
    [job] = queue.lease(store, 8, 60)
    assert job.entity_id == "8"

    # a retry is due again; a waiting change made due now ("Try now") too
    queue.retry_later(store, job, 0.0, "Maileon is unavailable")
    assert [j.entity_id for j in queue.lease(store, 8, 60)] == ["8"]
    with store.tx() as db:
        queue.upsert_job(db, 2, "person", "9", {"action": "change"}, delay=3600)
        db.execute("UPDATE jobs SET last_error='down' WHERE entity_id='9'")
    assert queue.lease(store, 8, 60) == []
    assert queue.try_waiting_now(store, 2) == 1
    assert [j.entity_id for j in queue.lease(store, 8, 60)] == ["9"]


def test_a_job_moved_later_waits_and_the_worker_learns_when(store: Store) -> None:
    """A change that moves its pending job's due time later (the debounce) leaves the
    company's known due time as it was (m140: no write on the webhooks' path). The job is not
    leased early, and the worker then learns when it is due (it would otherwise wake at once,
    again and again)."""
    with store.tx() as db:
        queue.upsert_job(db, 1, "person", "7", {"action": "change"})
        db.execute("UPDATE jobs SET run_after=run_after+3600")
    assert queue.lease(store, 8, 60) == []
    due_in = queue.next_due_in(store)
    assert due_in is not None and 3500 < due_in <= 3600
