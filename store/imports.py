"""Import (F12) storage: the `imports` row of each import, its staged `import_rows`, and the
job that drives it (see sync/runs/import_run.py for the engine)."""

from __future__ import annotations

from typing import Any

from store import jobs, people, queue
from store.db import Store, now
from store.people import PersonState

KIND = "import"  # job kind of an import: one page or batch per job
ROW_COLUMNS = (
    "import_id",
    "company_id",
    "seq",
    "person_id",
    "reason",
    "email_key",
    "update_time",
    "label",
    "contact",
    "fingerprint",
)
QueuedJob = tuple[str, str, dict[str, Any], str]  # kind, entity id, payload, version


def latest(store: Store, company_id: int) -> dict[str, Any] | None:
    return store.one(
        "SELECT * FROM imports WHERE company_id=? ORDER BY id DESC LIMIT 1", (company_id,)
    )


def get(store: Store, company_id: int, import_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM imports WHERE id=? AND company_id=?", (import_id, company_id))


def latest_job(store: Store, company_id: int, import_id: int) -> dict[str, Any] | None:
    return jobs.latest_for(store, company_id, KIND, str(import_id))


def start(
    store: Store, company_id: int, user_id: int, include_deals: bool = False, resend: bool = False
) -> tuple[dict[str, Any], bool]:
    """Start an import, or return the one running (False). `resend`: only the persons already
    synced, for their data (a changed field mapping)."""
    t = now()
    with store.tx() as db:
        running = db.execute(
            "SELECT * FROM imports WHERE company_id=? AND state='running' ORDER BY id LIMIT 1",
            (company_id,),
        ).fetchone()
        if running is not None:
            return dict(running), False
        cur = db.execute(
            "INSERT INTO imports (company_id, state, phase, include_deals, resend, "
            "started_by, started_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
            (company_id, "running", "reading", int(include_deals), int(resend), user_id, t, t),
        )
        import_id = int(cur.lastrowid or 0)
        queue.upsert_job(db, company_id, KIND, str(import_id), {"import_id": import_id})
        row = db.execute("SELECT * FROM imports WHERE id=?", (import_id,)).fetchone()
    return dict(row), True


def _running_id(db: Any, company_id: int) -> int | None:
    row = db.execute(
        "SELECT id FROM imports WHERE company_id=? AND state='running'", (company_id,)
    ).fetchone()
    return int(row["id"]) if row is not None else None


def cancel(store: Store, company_id: int) -> bool:
    """Stop the running import before its next page or batch; its waiting or failed jobs end
    and its staged rows go."""
    t = now()
    with store.tx() as db:
        import_id = _running_id(db, company_id)
        if import_id is None:
            return False
        db.execute(
            "UPDATE imports SET state='cancelled', finished_at=?, updated_at=? WHERE id=?",
            (t, t, import_id),
        )
        jobs.end_open(db, company_id, KIND, str(import_id), "import cancelled")
        db.execute("DELETE FROM import_rows WHERE import_id=?", (import_id,))
    return True


def resume(store: Store, company_id: int) -> bool:
    """Queue the next page or batch of a running import whose job failed (stopped)."""
    with store.tx() as db:
        import_id = _running_id(db, company_id)
        if import_id is None:
            return False
        jobs.resume_failed(db, company_id, KIND, str(import_id), {"import_id": import_id})
    return True


def staged_keys(
    store: Store, import_id: int, person_ids: list[int], email_keys: list[str]
) -> tuple[set[int], set[str], int]:
    """Of these persons and addresses, the ones staged already, and the last `seq` used."""
    with store.lock:  # the import's job is the only writer of its rows
        known = _staged(store, import_id, "person_id", person_ids)
        emails = _staged(store, import_id, "email_key", email_keys)
        last_seq = int(
            store.scalar(
                "SELECT coalesce(max(seq), 0) FROM import_rows WHERE import_id=?", (import_id,)
            )
        )
    return known, emails, last_seq


def _staged(store: Store, import_id: int, column: str, values: list[Any]) -> set[Any]:
    rows = store.all_in(
        f"SELECT {column} FROM import_rows WHERE import_id=? AND {column} IN ({{marks}})",  # noqa: S608
        import_id,
        values,
    )
    return {r[column] for r in rows}


def rows_after(store: Store, import_id: int, seq: int, limit: int) -> list[dict[str, Any]]:
    """The next staged rows to send, in page order."""
    return store.all(
        "SELECT * FROM import_rows WHERE import_id=? AND seq>? ORDER BY seq LIMIT ?",
        (import_id, seq, limit),
    )


def save_step(
    store: Store,
    company_id: int,
    row: dict[str, Any],
    changes: dict[str, Any],
    staged: list[tuple[Any, ...]],
    states: list[PersonState],
    queued: list[QueuedJob],
) -> bool:
    """Save one step in one transaction: the import's changes, the staged rows, the person
    states, the queued jobs (deals) and the job for the next step unless the import finished.
    States are saved even when the import was cancelled meanwhile (Maileon has those contacts
    already). False when it was cancelled. Raw SQL: a batch of 500 rows in one executemany."""
    finished = changes.get("phase") == "finished"
    with store.tx() as db:
        assignments = ", ".join(f"{k}=?" for k in changes)
        updated = db.execute(
            f"UPDATE imports SET {assignments} WHERE id=? AND state='running'",  # noqa: S608
            (*changes.values(), row["id"]),
        ).rowcount
        people.save_all(db, states, merge=True)  # read before Maileon answered
        if not updated:
            return False
        if staged:
            db.conn.executemany(
                f"INSERT OR IGNORE INTO import_rows ({', '.join(ROW_COLUMNS)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})",
                staged,
            )
        if changes.get("phase") in ("deals", "finished"):
            db.execute("DELETE FROM import_rows WHERE import_id=?", (row["id"],))
        for kind, entity_id, payload, version in queued:
            queue.upsert_job(db, company_id, kind, entity_id, payload, version)
        if not finished:
            queue.upsert_job(db, company_id, KIND, str(row["id"]), {"import_id": row["id"]})
    return True
