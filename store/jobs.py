"""Job-table work outside the queue's hot path: a run's jobs resumed or ended, the latest job
of an entity, whether a periodic job is queued."""

from __future__ import annotations

from typing import Any

from store import queue, synclog
from store.db import Store, now


def resume_failed(
    db: Any, company_id: int, kind: str, entity_id: str, payload: dict[str, Any]
) -> None:
    """Queue the next step of a stopped run (its job failed): the failed job ends as
    'resumed' and a new pending one takes its place. Call inside a tx."""
    db.execute(
        "UPDATE jobs SET state='done', last_error='resumed', updated_at=? "
        "WHERE company_id=? AND kind=? AND entity_id=? AND state='failed'",
        (now(), company_id, kind, entity_id),
    )
    queue.upsert_job(db, company_id, kind, entity_id, payload)


def end_open(db: Any, company_id: int, kind: str, entity_id: str, why: str) -> None:
    """End an entity's waiting or failed jobs (its run was cancelled). Call inside a tx."""
    db.execute(
        "UPDATE jobs SET state='done', last_error=?, updated_at=? WHERE "
        "company_id=? AND kind=? AND entity_id=? AND state IN ('pending','failed')",
        (why, now(), company_id, kind, entity_id),
    )


def latest_for(store: Store, company_id: int, kind: str, entity_id: str) -> dict[str, Any] | None:
    """The entity's newest job: its state, when it runs next and its last error."""
    return store.one(
        "SELECT state, run_after, last_error FROM jobs WHERE company_id=? AND "
        "kind=? AND entity_id=? ORDER BY id DESC LIMIT 1",
        (company_id, kind, entity_id),
    )


def has_open(db: Any, company_id: int, kind: str) -> bool:
    """Whether a job of this kind is pending or running for the company. Inside a tx."""
    return (
        db.execute(
            "SELECT 1 FROM jobs WHERE company_id=? AND kind=? AND state IN ('pending','running')",
            (company_id, kind),
        ).fetchone()
        is not None
    )


def prune(store: Store, company_id: int, before: float) -> None:
    """Forget raw webhook bodies, finished jobs and sync-log lines older than `before`."""
    with store.tx() as db:
        db.execute("DELETE FROM events WHERE company_id=? AND received_at<?", (company_id, before))
        db.execute(
            "DELETE FROM jobs WHERE company_id=? AND state='done' AND updated_at<?",
            (company_id, before),
        )
        synclog.prune(db, company_id, before)
        db.execute(
            "DELETE FROM deal_sends WHERE company_id=? AND started_at<?", (company_id, before)
        )
