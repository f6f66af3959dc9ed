"""Import (F12) storage: the `imports` row of each import, its staged `import_rows`, and the
job that drives it (see sync/runs/import_run.py for the engine). Saving a step, cancel and
resume are the runs' own (store/runs.py, with TABLE)."""

from __future__ import annotations

from typing import Any

from store import queue, runs
from store.db import Store, now
from store.runs import RunTable, Write

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


def _drop_staged(db: Any, import_id: int) -> None:
    db.execute("DELETE FROM import_rows WHERE import_id=?", (import_id,))


# One import runs at a time per company; a cancel ends it and drops its staged rows.
TABLE = RunTable(
    table="imports",
    kind=KIND,
    key="import_id",
    working=("running",),
    open=("running",),
    noun="import",
    on_cancel=_drop_staged,
)


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
        runs.queue_step(db, TABLE, company_id, import_id)
        row = db.execute("SELECT * FROM imports WHERE id=?", (import_id,)).fetchone()
    return dict(row), True


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


def step_writes(
    company_id: int,
    import_id: int,
    phase: str,
    staged: list[tuple[Any, ...]],
    queued: list[QueuedJob],
) -> Write:
    """A step's writes besides the import's row (store.runs.save_step, while it runs): the
    staged rows, then, once the persons are sent, their removal, and the queued jobs (deals).
    Raw SQL: a page of 500 rows in one executemany."""

    def write(db: Any) -> None:
        if staged:
            db.conn.executemany(
                f"INSERT OR IGNORE INTO import_rows ({', '.join(ROW_COLUMNS)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})",
                staged,
            )
        if phase in ("deals", "finished"):
            _drop_staged(db, import_id)
        for kind, entity_id, payload, version in queued:
            queue.upsert_job(db, company_id, kind, entity_id, payload, version)

    return write
