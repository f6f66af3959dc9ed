"""The durable queue: received events and the per-entity jobs they feed.

One pending job per (company, kind, entity): a newer event replaces the pending payload only
when its version (the object's update_time) is not older, and a delete always wins. That gives
coalescing of bursts and last-writer-wins ordering. A leased job is `running` until its lease
expires, so a crash makes it due again; handlers are idempotent.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

from store import synclog
from store.db import Store, now


@dataclass
class Job:
    id: int
    company_id: int
    kind: str
    entity_id: str
    payload: dict[str, Any]
    version: str
    attempts: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            row["id"],
            row["company_id"],
            row["kind"],
            row["entity_id"],
            json.loads(row["payload"]),
            row["version"],
            row["attempts"],
        )


# One statement: create the entity's pending job, or fold the new payload into it when it is
# a delete (a delete always wins), or not older than the pending one (unless that is a delete).
# Debounce: a fold moves the due time to this change's (`run_after`), but never past the
# pending job's creation + the maximum wait (last parameter), and never earlier than it was
# (a retry's backoff stays). Without debounce (maximum wait 0) the due time stays as it was.
# ?10 is the new payload's action, so SQLite parses only the pending job's JSON.
UPSERT_JOB = """
INSERT INTO jobs (company_id, kind, entity_id, payload, version, state, run_after, created_at,
                  updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8)
ON CONFLICT (company_id, kind, entity_id) WHERE state = 'pending' DO UPDATE SET
    payload = excluded.payload, version = excluded.version, updated_at = excluded.updated_at,
    run_after = max(jobs.run_after, min(excluded.run_after, jobs.created_at + ?9))
WHERE ?10 = 'delete'
   OR (json_extract(jobs.payload, '$.action') IS NOT 'delete'
       AND excluded.version >= jobs.version)
"""
INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (company_id, source, dedupe_key, kind, entity_id,"
    " payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def upsert_job(
    db: Any,
    company_id: int,
    kind: str,
    entity_id: str,
    payload: dict[str, Any],
    version: str = "",
    delay: float = 0.0,
) -> None:
    """Create the pending job for an entity, or fold this payload into it. Call inside a tx."""
    t = now()
    db.execute(
        UPSERT_JOB,
        (
            company_id,
            kind,
            entity_id,
            json.dumps(payload),
            version,
            t + delay,
            t,
            t,
            0.0,
            payload.get("action"),
        ),
    )


@dataclass
class IncomingEvent:
    """A received event and the job it feeds, as `record_events` stores them."""

    company_id: int
    source: str
    dedupe_key: str
    kind: str
    entity_id: str
    payload: str  # the raw JSON body
    job_kind: str
    job_payload: str  # JSON
    version: str
    action: str  # the job payload's action: a delete always wins
    debounce: float = 0.0
    max_wait: float = 0.0


def record_events(store: Store, events: list[IncomingEvent]) -> list[bool]:
    """Store events and their jobs in one transaction; for each, False when it was a duplicate.
    This is the webhooks' hot path (several concurrent webhooks share a commit, see
    store/group_commit.py), so it talks to sqlite3 directly.

    `debounce`: the job is due that long after the entity's latest change, but at most
    `max_wait` after its pending job was created, so a burst of edits costs one sync."""
    t = now()
    conn = store.db.conn
    stored = []
    with store.lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for e in events:
                new = (
                    conn.execute(
                        INSERT_EVENT,
                        (e.company_id, e.source, e.dedupe_key, e.kind, e.entity_id, e.payload, t),
                    ).rowcount
                    == 1
                )
                if new:
                    conn.execute(
                        UPSERT_JOB,
                        (
                            e.company_id,
                            e.job_kind,
                            e.entity_id,
                            e.job_payload,
                            e.version,
                            t + e.debounce,
                            t,
                            t,
                            e.max_wait,
                            e.action,
                        ),
                    )
                stored.append(new)
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) may have ended the transaction already: a ROLLBACK
            # then would raise "no transaction is active" and hide the real error.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return stored


def record_event(
    store: Store,
    *,
    company_id: int,
    source: str,
    dedupe_key: str,
    kind: str,
    entity_id: str,
    payload: str | dict[str, Any],
    job_kind: str,
    job_payload: dict[str, Any],
    version: str,
    debounce: float = 0.0,
    max_wait: float = 0.0,
) -> bool:
    """Store one event (`payload`: the raw JSON body, or an object) and its job in one
    transaction. False when it was a duplicate."""
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return record_events(
        store,
        [
            IncomingEvent(
                company_id,
                source,
                dedupe_key,
                kind,
                entity_id,
                raw,
                job_kind,
                json.dumps(job_payload),
                version,
                str(job_payload.get("action", "")),
                debounce,
                max_wait,
            )
        ],
    )[0]


# Expired leases first (their entity's pending job waits behind them), except those of jobs
# this process still runs (`live`: a wall-clock step must not make them look expired), then due
# pending jobs whose entity has no running job, shared fairly between companies: each company's
# next due jobs are ranked by how many jobs that company would then be running (running now + its
# place in its own line), so a free slot goes to the company using the fewest, whatever the
# size of another company's backlog; between equals, to the one served longest ago
# (`lease_turns`), so even a single slot goes round the companies in turn.
# `chunk`: companies take turns by chunks of that many jobs (running ones included), not job by
# job (1: a free slot goes round the companies). The worker leases in chunks, so the jobs a
# company's shared call batches (sync/persons/new_contacts.py) arrive together, not one per company.
# In a round of chunks, companies with at most SMALL jobs due go first: another company's
# single change does not wait for a round of other companies' chunks.
# A lease takes a company's turn whole (`upto`: the rows up to the end of that turn) or leaves
# it to the next lease, unless it is the first turn in line (`place` 1), which a limit smaller
# than a chunk cuts: a small company's change taken first must not cut the next company's chunk
# in two, whose few jobs left would then jump the line as a small company of their own, cutting
# the next chunk, and so on round after round (each cut a synchronize call of its own).
# Cost: only the companies with due work are read (`due_companies`, m110_due_companies; made
# exact by FRESH_DUE just before), never the idle tenants with their periodic runs scheduled
# later; `ready` probes the first due jobs of each, and only the `:companies` companies that can
# win (`picked`, in the order of their first row) get their line read, each stopping after
# `limit` rows. So a lease costs about the same with ten or a hundred thousand jobs queued, and
# with one or a thousand tenants; it grows only with the companies that have work due now.
LEASE = """
WITH busy AS (SELECT company_id, count(*) AS n FROM jobs WHERE state='running'
              GROUP BY company_id),
firsts AS (SELECT company_id AS cid, due_at AS first FROM due_companies WHERE due_at<=:now),
ready AS (
    SELECT c.cid, coalesce(busy.n, 0) AS n, coalesce(t.leased_at, 0) AS turn, c.first,
           (SELECT count(*) FROM (
                SELECT 1 FROM jobs p
                WHERE p.state='pending' AND p.company_id=c.cid AND p.run_after<=:now
                  AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.company_id=p.company_id
                                  AND r.kind=p.kind AND r.entity_id=p.entity_id
                                  AND r.state='running')
                LIMIT :small + 1)) AS few
    FROM firsts c LEFT JOIN busy ON busy.company_id = c.cid
    LEFT JOIN lease_turns t ON t.company_id = c.cid),
picked AS (
    SELECT cid, n, turn, few FROM ready WHERE few > 0 AND n < :per_company
    ORDER BY n / :chunk, :chunk > 1 AND few > :small, turn, first, cid LIMIT :companies),
due AS (
    SELECT j.id, j.company_id, j.run_after, c.n, c.turn, c.few
    FROM picked c JOIN jobs j ON j.id IN (
        SELECT p.id FROM jobs p
        WHERE p.state='pending' AND p.company_id=c.cid AND p.run_after<=:now
          AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.company_id=p.company_id
                          AND r.kind=p.kind AND r.entity_id=p.entity_id
                          AND r.state='running')
        ORDER BY p.run_after LIMIT :limit)),
fair AS (
    SELECT id, company_id, run_after, turn, few,
           n + row_number() OVER (PARTITION BY company_id ORDER BY run_after, id) AS share
    FROM due)
UPDATE jobs SET state='running', locked_until=:lease, attempts=attempts+1, updated_at=:now
WHERE id IN (
    SELECT id FROM (
        SELECT *, count(*) OVER turns AS upto, dense_rank() OVER turns AS place FROM (
            SELECT id, 0 AS round, 0 AS big, 0 AS turn, NULL AS company, 0 AS share,
                   locked_until AS due
            FROM (SELECT id, locked_until FROM jobs WHERE state='running' AND locked_until<=:now
                  AND id NOT IN (SELECT value FROM json_each(:live))
                  ORDER BY locked_until LIMIT :limit)
            UNION ALL
            SELECT id, (share - 1) / :chunk AS round, :chunk > 1 AND few > :small AS big, turn,
                   CASE WHEN :chunk > 1 THEN company_id END AS company, share, run_after AS due
            FROM fair WHERE share <= :per_company)
        WINDOW turns AS (ORDER BY round, big, turn, company))
    WHERE :chunk = 1 OR place = 1 OR upto <= :limit
    ORDER BY round, big, turn, company, share, due LIMIT :limit)
RETURNING *
"""
SMALL = 8  # jobs due: a company with no more goes first in a round of chunks

# `due_companies` holds a lower bound of each company's first due time (the triggers of
# m110_due_companies lower it): before a lease, those that look due get their exact one, and
# those with nothing pending any more leave the table.
FRESH_DUE = (
    "DELETE FROM due_companies WHERE due_at<=:now AND NOT EXISTS (SELECT 1 FROM jobs"
    " WHERE state='pending' AND company_id=due_companies.company_id)",
    "UPDATE due_companies SET due_at=(SELECT min(run_after) FROM jobs WHERE state='pending'"
    " AND company_id=due_companies.company_id) WHERE due_at<=:now",
)


TURN = (
    "INSERT INTO lease_turns (company_id, leased_at) VALUES (?, ?) "
    "ON CONFLICT (company_id) DO UPDATE SET leased_at = excluded.leased_at"
)


def lease(
    store: Store,
    limit: int,
    lease_seconds: float,
    per_company: int = 1_000_000,
    chunk: int = 1,
    live: list[int] | None = None,
) -> list[Job]:
    """Take up to `limit` due jobs, at most one per entity and none whose entity is running,
    round-robin across companies by the number of jobs each is running (in turns of `chunk`
    jobs), and none of a company already running `per_company` jobs (expired leases are taken
    back regardless, but never those of the `live` job ids the calling process still works on)."""
    t = now()
    params = {
        "lease": t + lease_seconds,
        "now": t,
        "limit": limit,
        "per_company": per_company,
        "live": json.dumps(live or []),
        "chunk": max(1, chunk),
        "small": SMALL,
        # the companies that can win a row: with chunks, the first few; else one per row
        "companies": limit // chunk + 4 if chunk > 1 else limit,
    }
    with store.tx() as db:
        for sql in FRESH_DUE:
            db.execute(sql, {"now": t})
        rows = db.execute(LEASE, params).fetchall()
        db.conn.executemany(TURN, [(cid, t) for cid in {r["company_id"] for r in rows}])
    jobs = [Job.from_row(dict(r)) for r in rows]
    # RETURNING gives no order: the worker starts the jobs of the companies with fewest first
    leased = Counter(job.company_id for job in jobs)
    return sorted(jobs, key=lambda job: (leased[job.company_id], job.id))


def release_leases(store: Store) -> int:
    """At startup: jobs leased by a previous run of this process are due again at once.

    One process owns a database (the Procfile runs one); several instances sharing a file would
    need lease owners instead.
    """
    return store.execute("UPDATE jobs SET locked_until=0 WHERE state='running'")


def next_due_in(store: Store) -> float | None:
    """Seconds until the next pending job may be due: `due_companies` holds a lower bound of
    each company's first due time, so the worker may wake early, and its lease then makes the
    bound exact (FRESH_DUE). Running jobs are left out: this process's own are never re-leased
    while it runs them, and a lease a job left behind without an outcome (rare) is found by
    the worker's regular look at the queue."""
    t = now()
    due = store.scalar("SELECT min(due_at) FROM due_companies")
    return None if due is None else max(0.0, due - t)


def finish(store: Store, job: Job, result: str, message: str = "", logged: bool = True) -> None:
    """Mark done and log the outcome (ok | skipped | attention), as the handler said. A webhook
    job's person, deal or organization data is not kept once applied (issue #23; the log line
    keeps the name). A routine periodic run (not logged) leaves no row: one per company and
    kind every few minutes would be most of the table, kept for the retention days."""
    with store.tx() as db:
        if not logged and job.kind.startswith("periodic."):
            db.execute("DELETE FROM jobs WHERE id=?", (job.id,))
            return
        if job.kind in ENTITY_KINDS:
            _done_without_data(db, job.id)
        else:
            db.execute(
                "UPDATE jobs SET state='done', locked_until=0, last_error='', updated_at=? "
                "WHERE id=?",
                (now(), job.id),
            )
        if logged:
            log(db, job, result, message)


ENTITY_KINDS = ("person", "deal", "organization")


def _done_without_data(db: Any, job_id: int) -> None:
    """The row written afresh, done and with only its action: SQLite does not merge the pages
    of rows an UPDATE shrinks, only of deleted ones, so the finished jobs kept for the log
    would hold the pages of all the data they no longer carry (issue 29: the file 1.8x its
    live data after a retention cycle). Same id, so the log lines still find their job."""
    row = db.execute(
        "SELECT *, json_object('action', json_extract(payload, '$.action')) AS kept "
        "FROM jobs WHERE id=?",
        (job_id,),
    ).fetchone()
    if row is None:
        return
    values = dict(row)
    values.update(
        payload=values.pop("kept"), state="done", locked_until=0, last_error="", updated_at=now()
    )
    db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
    db.execute(
        f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",  # noqa: S608
        list(values.values()),
    )


def _back_to_pending(
    db: Any, row: dict[str, Any], run_after: float, message: str, reset_attempts: bool
) -> None:
    """Make a leased or failed job pending again. When a newer event already created the
    entity's pending job, fold this one into it by the same rule as intake (newer update_time
    or a delete wins), so an older retry never replaces newer data, nor the reverse."""
    t = now()
    try:
        db.execute(
            "UPDATE jobs SET state='pending', run_after=?, locked_until=0, last_error=?,"
            " fail_cause='', attempts=CASE WHEN ? THEN 0 ELSE attempts END, updated_at=?"
            " WHERE id=?",
            (run_after, message, reset_attempts, t, row["id"]),
        )
    except sqlite3.IntegrityError:  # the one pending job per entity exists already
        db.execute(
            UPSERT_JOB,
            (
                row["company_id"],
                row["kind"],
                row["entity_id"],
                row["payload"],
                row["version"],
                run_after,
                t,
                t,
                0.0,
                json.loads(row["payload"]).get("action"),
            ),
        )
        db.execute(
            "UPDATE jobs SET state='done', locked_until=0, last_error=?, updated_at=? WHERE id=?",
            ("merged into the waiting change: " + message, t, row["id"]),
        )


def retry_later(store: Store, job: Job, delay: float, message: str) -> None:
    with store.tx() as db:
        row = db.execute("SELECT * FROM jobs WHERE id=?", (job.id,)).fetchone()
        _back_to_pending(db, dict(row), now() + delay, message, reset_attempts=False)


def fail(store: Store, job: Job, message: str, cause: str = "") -> None:
    """Failed for good; `cause` names a cause that may go away by itself (m061_fail_cause)."""
    with store.tx() as db:
        db.execute(
            "UPDATE jobs SET state='failed', locked_until=0, last_error=?, fail_cause=?,"
            " updated_at=? WHERE id=?",
            (message, cause, now(), job.id),
        )
        log(db, job, "failed", message)


def retry_failed(
    store: Store, company_id: int, job_id: int | None = None, cause: str | None = None
) -> int:
    """Put failed jobs of a company (one, all, or those failed for `cause`) back in the queue.
    Returns how many."""
    with store.tx() as db:
        where = "company_id=? AND state='failed'"
        params: tuple[Any, ...] = (company_id,)
        if job_id is not None:
            where, params = where + " AND id=?", (*params, job_id)
        if cause is not None:
            where, params = where + " AND fail_cause=?", (*params, cause)
        rows = db.execute(f"SELECT * FROM jobs WHERE {where}", params).fetchall()  # noqa: S608
        for row in rows:
            _back_to_pending(db, dict(row), now(), "", reset_attempts=True)
    return len(rows)


def holds_change(db: Any, company_id: int, kind: str, entity_id: str, version: str) -> bool:
    """Whether a job of this entity holds this change or a newer one, whatever its state (a
    failed one included: the sweep must not repeat a change that failed)."""
    row = db.execute(
        "SELECT 1 FROM jobs WHERE company_id=? AND kind=? AND entity_id=? AND version>=?"
        " AND version!='' LIMIT 1",
        (company_id, kind, entity_id, version),
    ).fetchone()
    return row is not None


WAITING = "company_id=? AND state='pending' AND last_error!='' AND kind NOT LIKE 'periodic.%'"


def waiting_count(store: Store, company_id: int) -> int:
    """Changes that failed for a passing reason and wait for their next try."""
    sql = f"SELECT count(*) FROM jobs WHERE {WAITING}"  # noqa: S608
    return int(store.scalar(sql, (company_id,)) or 0)


def try_waiting_now(store: Store, company_id: int) -> int:
    """Make the company's waiting changes due now (the health card's "Try now")."""
    with store.tx() as db:
        sql = f"UPDATE jobs SET run_after=? WHERE {WAITING} AND run_after>?"  # noqa: S608
        t = now()
        return int(db.execute(sql, (t, company_id, t)).rowcount)


def log(db: Any, job: Job, result: str, message: str) -> None:
    synclog.write(
        db,
        job.company_id,
        job.kind,
        job.entity_id,
        result,
        message,
        job.id,
        synclog.subject_of(job.payload),
    )


def queued_bytes(store: Store, company_id: int) -> int:
    """Bytes of job data the company has waiting or running (from an index, m041)."""
    return int(
        store.scalar(
            "SELECT total(length(CAST(payload AS BLOB))) FROM jobs INDEXED BY jobs_queued_bytes "
            "WHERE company_id=? AND state IN ('pending','running')",
            (company_id,),
        )
        or 0
    )


def depth(store: Store, company_id: int | None = None) -> int:
    if company_id is None:
        return int(
            store.scalar(
                "SELECT count(*) FROM jobs WHERE state IN ('pending','running')"
                " AND kind NOT LIKE 'periodic.%'"
            )
            or 0
        )
    # INDEXED BY: the company's other covering index would walk its finished jobs too, so the
    # count would grow with the retained history (issue #23)
    return int(
        store.scalar(
            "SELECT count(*) FROM jobs INDEXED BY jobs_company_due WHERE company_id=? "
            "AND state IN ('pending','running') AND kind NOT LIKE 'periodic.%'",
            (company_id,),
        )
        or 0
    )
