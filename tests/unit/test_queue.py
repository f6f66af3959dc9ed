"""The durable queue's folding rules, on a fresh database."""

from __future__ import annotations

from collections import Counter

from store import queue
from store.db import Store
from tests.unit.conftest import add_company


def queue_change(store: Store, version: str, action: str = "change") -> None:
    with store.tx() as db:
        queue.upsert_job(db, 1, "person", "7", {"action": action, "v": version}, version)


def pending(store: Store) -> list[str]:
    return [
        r["version"]
        for r in store.all("SELECT version FROM jobs WHERE state='pending' AND kind='person'")
    ]


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


# --- debounce ---------------------------------------------------------------------------------
def record_change(
    store: Store, entity: str, version: str, debounce: float, max_wait: float
) -> None:
    queue.record_event(
        store,
        company_id=1,
        source="pipedrive",
        dedupe_key=f"pd2:{version}",
        kind="person.change",
        entity_id=entity,
        payload={"v": version},
        job_kind="person",
        job_payload={"action": "change", "v": version},
        version=version,
        debounce=debounce,
        max_wait=max_wait,
    )


def due_in(store: Store) -> float:
    [(run_after, created_at)] = [
        (r["run_after"], r["created_at"])
        for r in store.all(
            "SELECT run_after, created_at FROM jobs WHERE state='pending' AND kind='person'"
        )
    ]
    return float(run_after - created_at)


def test_a_debounced_change_waits_and_each_newer_change_moves_its_due_time(store: Store) -> None:
    record_change(store, "7", "2026-01-01T00:00:01Z", debounce=30, max_wait=300)
    first = due_in(store)
    assert 29.9 <= first <= 30.1
    assert queue.lease(store, 8, 60) == []  # not due yet: the burst may go on
    record_change(store, "7", "2026-01-01T00:00:02Z", debounce=30, max_wait=300)
    assert due_in(store) > first  # 30 s after the latest change
    assert pending(store) == ["2026-01-01T00:00:02Z"]


def test_the_maximum_wait_caps_how_far_a_burst_postpones_the_sync(store: Store) -> None:
    record_change(store, "7", "2026-01-01T00:00:01Z", debounce=30, max_wait=30)
    first = due_in(store)
    for second in range(2, 6):
        record_change(store, "7", f"2026-01-01T00:00:0{second}Z", debounce=30, max_wait=30)
    assert due_in(store) == first  # created + max_wait: never later
    assert pending(store) == ["2026-01-01T00:00:05Z"]


def test_a_change_does_not_cut_short_a_retry_backoff(store: Store) -> None:
    record_change(store, "7", "2026-01-01T00:00:01Z", debounce=0, max_wait=0)
    [job] = queue.lease(store, 8, 60)
    queue.retry_later(store, job, 600.0, "Maileon is unavailable")
    record_change(store, "7", "2026-01-01T00:00:02Z", debounce=1, max_wait=10)
    assert due_in(store) > 500
    assert pending(store) == ["2026-01-01T00:00:02Z"]


# --- fair leasing -----------------------------------------------------------------------------
def queue_jobs(store: Store, company_id: int, entities: range) -> None:
    with store.tx() as db:
        for n in entities:
            queue.upsert_job(db, company_id, "person", str(n), {"action": "change"}, "v")


def test_a_free_slot_goes_to_the_company_that_runs_fewest_jobs(store: Store) -> None:
    add_company(store, 2)
    queue_jobs(store, 1, range(2500))  # company 1's backlog, older than company 2's change
    running = queue.lease(store, 8, 60)
    assert {j.company_id for j in running} == {1}
    queue_jobs(store, 2, range(1))
    queue.finish(store, running[0], "ok")
    [next_job] = queue.lease(store, 1, 60)
    assert (next_job.company_id, next_job.entity_id) == (2, "0")


def test_two_backlogs_are_applied_in_turns(store: Store) -> None:
    """One slot: the companies alternate, each in its own order, whatever the backlog sizes."""
    add_company(store, 2)
    add_company(store, 3)
    queue_jobs(store, 1, range(40))
    queue_jobs(store, 2, range(100, 103))
    queue_jobs(store, 3, range(200, 202))
    applied = []
    for _ in range(10):
        [job] = queue.lease(store, 1, 60)
        applied.append((job.company_id, job.entity_id))
        queue.finish(store, job, "ok")
    assert applied[:7] == [
        (1, "0"),
        (2, "100"),
        (3, "200"),
        (1, "1"),
        (2, "101"),
        (3, "201"),
        (1, "2"),
    ]
    assert applied[7:] == [(2, "102"), (1, "3"), (1, "4")]


def test_a_lease_shares_free_slots_between_companies(store: Store) -> None:
    add_company(store, 2)
    queue_jobs(store, 1, range(100))
    queue_jobs(store, 2, range(100, 200))
    jobs = queue.lease(store, 8, 60)
    assert sorted(j.company_id for j in jobs) == [1, 1, 1, 1, 2, 2, 2, 2]


def test_a_company_holding_its_share_of_jobs_leaves_the_free_slots_to_others(
    store: Store,
) -> None:
    """Jobs waiting for a slow shared call hold no slot, so the worker may lease more; a company
    that already holds `per_company` jobs gets no more, and another company's change goes on."""
    add_company(store, 2)
    queue_jobs(store, 1, range(50))
    held = queue.lease(store, 8, 60, per_company=3)
    assert [j.company_id for j in held] == [1, 1, 1]
    queue_jobs(store, 2, range(1))
    [job] = queue.lease(store, 8, 60, per_company=3)
    assert (job.company_id, job.entity_id) == (2, "0")


def test_in_chunks_a_company_gets_its_jobs_together_and_companies_take_turns(
    store: Store,
) -> None:
    """The worker leases chunks: one company's jobs together (they share its batch call),
    then the next company's, each company in turn however large the other backlogs."""
    for company_id in (2, 3):
        add_company(store, company_id)
    for company_id in (1, 2, 3):
        queue_jobs(store, company_id, range(company_id * 1000, company_id * 1000 + 150))
    served = []
    for _ in range(3):
        jobs = queue.lease(store, 100, 60, per_company=208, chunk=100)
        assert len({j.company_id for j in jobs}) == 1 and len(jobs) == 100
        served.append(jobs[0].company_id)
        for job in jobs:
            queue.finish(store, job, "ok")
    assert sorted(served) == [1, 2, 3]


def test_in_chunks_a_single_change_goes_before_a_round_of_backlogs(store: Store) -> None:
    for company_id in (2, 3, 4):
        add_company(store, company_id)
    queue_jobs(store, 4, range(1))
    [setup] = queue.lease(store, 100, 60, chunk=100)  # company 4 was served just now
    queue.finish(store, setup, "ok")
    for company_id in (1, 2, 3):
        queue_jobs(store, company_id, range(company_id * 1000, company_id * 1000 + 300))
    queue_jobs(store, 4, range(7000, 7001))  # one change of company 4
    jobs = queue.lease(store, 100, 60, per_company=208, chunk=100)
    assert [(j.company_id, j.entity_id) for j in jobs] == [(4, "7000")]
    # the next company's chunk is not cut to the 99 left beside it: it comes whole, next
    jobs = queue.lease(store, 100, 60, per_company=208, chunk=100)
    assert {j.company_id for j in jobs} == {1} and len(jobs) == 100


def test_a_single_change_among_backlogs_leaves_every_chunk_whole(store: Store) -> None:
    """Each cut chunk is one synchronize call more, and its few jobs left jumped the line as a
    small company, cutting the next company's chunk, and so on round after round."""
    for company_id in (2, 3, 4):
        add_company(store, company_id)
    for company_id in (1, 2, 3):
        queue_jobs(store, company_id, range(company_id * 1000, company_id * 1000 + 200))
    leases: list[list[tuple[int, int]]] = []
    while jobs := queue.lease(store, 100, 60, per_company=208, chunk=100):
        if not leases:
            queue_jobs(store, 4, range(7000, 7001))  # one change, during the first round
        leases.append(sorted(Counter(j.company_id for j in jobs).items()))
        for job in jobs:
            queue.finish(store, job, "ok")
    assert leases == [
        [(1, 100)],
        [(4, 1)],
        [(2, 100)],
        [(3, 100)],
        [(1, 100)],
        [(2, 100)],
        [(3, 100)],
    ]
