"""The storage of the runs through all persons, a page per job: the import (`imports`,
store/imports.py) and the sync-rules runs (`rule_runs`, store/rules.py). Each is a row with a
state, a cursor and counters, driven by one job at a time of its own kind. Saving a step,
cancelling and resuming are the same for both, so they live here once; each table says which
of its states a job drives and what else a cancel clears (sync/runs/paged.py runs the steps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from store import jobs, queue
from store.db import Store, now

Write = Callable[[Any], None]  # more writes of a step, given the open transaction


@dataclass(frozen=True)
class RunTable:
    table: str  # imports | rule_runs (a constant, never user input)
    kind: str  # the job kind that drives a run, one step per job
    key: str  # the run id's name in the job's payload
    working: tuple[str, ...]  # the states in which a job drives the run
    open: tuple[str, ...]  # the states Cancel ends (working, or waiting for the admin)
    noun: str  # "import": the words of the jobs a cancel ends
    on_cancel: Callable[[Any, int], None] | None = None  # clears what a cancelled run leaves

    def payload(self, run_id: int) -> dict[str, Any]:
        return {self.key: run_id}


def get(store: Store, t: RunTable, company_id: int, run_id: int) -> dict[str, Any] | None:
    return store.one(
        f"SELECT * FROM {t.table} WHERE id=? AND company_id=?",  # noqa: S608
        (run_id, company_id),
    )


def latest(store: Store, t: RunTable, company_id: int) -> dict[str, Any] | None:
    return store.one(
        f"SELECT * FROM {t.table} WHERE company_id=? ORDER BY id DESC LIMIT 1",  # noqa: S608
        (company_id,),
    )


def latest_job(store: Store, t: RunTable, company_id: int, run_id: int) -> dict[str, Any] | None:
    """The job of the run's latest step: whether it waits for a retry or failed, and why."""
    return jobs.latest_for(store, company_id, t.kind, str(run_id))


def queue_step(db: Any, t: RunTable, company_id: int, run_id: int) -> None:
    """Queue the run's next step (one pending job per run). Call inside a transaction."""
    queue.upsert_job(db, company_id, t.kind, str(run_id), t.payload(run_id))


def save_step(
    store: Store,
    t: RunTable,
    company_id: int,
    row: dict[str, Any],
    changes: dict[str, Any],
    always: Write | None = None,
    then: Write | None = None,
) -> bool:
    """One step done, in one transaction: the run's changes (counters, cursor, a new state),
    `always` (what Maileon has already, e.g. the person states: saved even when the run was
    cancelled meanwhile), `then` (the step's other writes) and the job for the next step
    while the run is still working. False when the run left its state meanwhile (cancelled):
    then only `always` is saved and no next step is queued."""
    state = changes.get("state", row["state"])
    changes = {**changes, "pages": row["pages"] + 1, "updated_at": now()}
    if state not in t.working:
        changes["cursor"] = None
    if state == "done":
        changes["finished_at"] = now()
    with store.tx() as db:
        assignments = ", ".join(f"{k}=?" for k in changes)
        updated = db.execute(
            f"UPDATE {t.table} SET {assignments} WHERE id=? AND state=?",  # noqa: S608
            (*changes.values(), row["id"], row["state"]),
        ).rowcount
        if always is not None:
            always(db)
        if not updated:
            return False
        if then is not None:
            then(db)
        if state in t.working:
            queue_step(db, t, company_id, int(row["id"]))
    return True


def end(db: Any, t: RunTable, company_id: int, why: str) -> int:
    """End the company's open runs (cancelled): their waiting or failed jobs end too, and
    what they leave behind goes. How many. Call inside a transaction."""
    t_now = now()
    states = ",".join("?" * len(t.open))
    ids = [
        int(r["id"])
        for r in db.execute(
            f"SELECT id FROM {t.table} WHERE company_id=? AND state IN ({states})",  # noqa: S608
            (company_id, *t.open),
        ).fetchall()
    ]
    for run_id in ids:
        db.execute(
            f"UPDATE {t.table} SET state='cancelled', finished_at=?, updated_at=? "  # noqa: S608
            "WHERE id=?",
            (t_now, t_now, run_id),
        )
        jobs.end_open(db, company_id, t.kind, str(run_id), why)
        if t.on_cancel is not None:
            t.on_cancel(db, run_id)
    return len(ids)


def cancel(store: Store, t: RunTable, company_id: int) -> bool:
    """Stop the company's run before its next step (the step under way finishes, and what it
    sent to Maileon is kept, but it queues no next one). False: nothing to cancel."""
    with store.tx() as db:
        return end(db, t, company_id, f"{t.noun} cancelled") > 0


def resume(store: Store, t: RunTable, company_id: int) -> bool:
    """Queue the next step of the company's working run whose job failed (stopped): the
    failed job ends as 'resumed', the run goes on at its saved cursor. False: none works."""
    states = ",".join("?" * len(t.working))
    with store.tx() as db:
        row = db.execute(
            f"SELECT id FROM {t.table} WHERE company_id=? AND state IN ({states}) "  # noqa: S608
            "ORDER BY id LIMIT 1",
            (company_id, *t.working),
        ).fetchone()
        if row is None:
            return False
        jobs.resume_failed(db, company_id, t.kind, str(row["id"]), t.payload(int(row["id"])))
    return True
