"""Sync rules (F14) storage: the active rules, who was inside them, and rule-change runs."""

from __future__ import annotations

import json
from typing import Any

from store import jobs, queue
from store.db import Store, now

KIND = "rules"  # job kind of a rule-change run: one page per job


def active_json(store: Store, company_id: int) -> str | None:
    """The active rules as stored (JSON; sync.rules.decide.SyncRules reads it), None: never set."""
    value = store.scalar("SELECT rules FROM sync_rules WHERE company_id=?", (company_id,))
    return str(value) if value is not None else None


def membership(store: Store, company_id: int, ids: list[int]) -> dict[int, bool]:
    """Whether each person was inside the rules when last seen (absent: never evaluated)."""
    rows = store.all_in(
        "SELECT person_id, matched FROM rule_members WHERE company_id=? AND person_id IN ({marks})",
        company_id,
        ids,
    )
    return {r["person_id"]: bool(r["matched"]) for r in rows}


def remember(db: Any, company_id: int, members: dict[int, bool]) -> None:
    """Record inside/outside per person; call inside a transaction."""
    t = now()
    db.conn.executemany(
        "INSERT INTO rule_members (company_id, person_id, matched, updated_at) VALUES (?,?,?,?) "
        "ON CONFLICT (company_id, person_id) DO UPDATE SET matched=excluded.matched, "
        "updated_at=excluded.updated_at",
        [(company_id, pid, int(m), t) for pid, m in members.items()],
    )


def remember_one(store: Store, company_id: int, person_id: int, matched: bool) -> None:
    with store.tx() as db:
        remember(db, company_id, {person_id: matched})


# --- rule-change runs ------------------------------------------------------------------------
def latest_run(store: Store, company_id: int) -> dict[str, Any] | None:
    return store.one(
        "SELECT * FROM rule_runs WHERE company_id=? ORDER BY id DESC LIMIT 1", (company_id,)
    )


def run_job(store: Store, company_id: int, run_id: int) -> dict[str, Any] | None:
    return jobs.latest_for(store, company_id, KIND, str(run_id))


def get_run(store: Store, company_id: int, run_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM rule_runs WHERE id=? AND company_id=?", (run_id, company_id))


def start_preview(
    store: Store, company_id: int, user_id: int, rules_json: str
) -> tuple[dict[str, Any], bool]:
    """Preview proposed rules; an unfinished earlier preview is replaced, an apply in
    progress is not (False: that run is returned)."""
    t = now()
    with store.tx() as db:
        busy = db.execute(
            "SELECT * FROM rule_runs WHERE company_id=? AND state='applying'", (company_id,)
        ).fetchone()
        if busy is not None:
            return dict(busy), False
        _end_runs(db, company_id, "replaced by a new preview")
        cur = db.execute(
            "INSERT INTO rule_runs (company_id, state, rules, started_by, "
            "started_at, updated_at) VALUES (?,?,?,?,?,?)",
            (company_id, "previewing", rules_json, user_id, t, t),
        )
        run_id = int(cur.lastrowid or 0)
        queue.upsert_job(db, company_id, KIND, str(run_id), {"run_id": run_id})
        row = db.execute("SELECT * FROM rule_runs WHERE id=?", (run_id,)).fetchone()
    return dict(row), True


def apply(store: Store, company_id: int, run_id: int) -> bool:
    """Make the previewed rules active and start applying them to all persons."""
    t = now()
    with store.tx() as db:
        row = db.execute(
            "SELECT * FROM rule_runs WHERE id=? AND company_id=? AND state='previewed'",
            (run_id, company_id),
        ).fetchone()
        if row is None:
            return False
        db.execute(
            "INSERT INTO sync_rules (company_id, rules, updated_at) VALUES (?,?,?) "
            "ON CONFLICT (company_id) DO UPDATE SET rules=excluded.rules, "
            "updated_at=excluded.updated_at",
            (company_id, row["rules"], t),
        )
        db.execute(
            "UPDATE rule_runs SET state='applying', cursor=NULL, read=0, pages=0, "
            "updated_at=? WHERE id=?",
            (t, run_id),
        )
        queue.upsert_job(db, company_id, KIND, str(run_id), {"run_id": run_id})
    return True


def cancel(store: Store, company_id: int) -> bool:
    """Stop a preview or an apply before its next page. Rules already made active stay."""
    with store.tx() as db:
        return _end_runs(db, company_id, "cancelled") > 0


def _end_runs(db: Any, company_id: int, why: str) -> int:
    t = now()
    ids = [
        r["id"]
        for r in db.execute(
            "SELECT id FROM rule_runs WHERE company_id=? AND state IN ('previewing','previewed',"
            "'applying')",
            (company_id,),
        ).fetchall()
    ]
    for run_id in ids:
        db.execute(
            "UPDATE rule_runs SET state='cancelled', finished_at=?, updated_at=? WHERE id=?",
            (t, t, run_id),
        )
        jobs.end_open(db, company_id, KIND, str(run_id), why)
    return len(ids)


def resume(store: Store, company_id: int) -> bool:
    """Queue the next page of a preview or apply whose job failed (stopped)."""
    with store.tx() as db:
        row = db.execute(
            "SELECT id FROM rule_runs WHERE company_id=? AND state IN ('previewing','applying')",
            (company_id,),
        ).fetchone()
        if row is None:
            return False
        jobs.resume_failed(db, company_id, KIND, str(row["id"]), {"run_id": row["id"]})
    return True


def save_step(
    store: Store,
    company_id: int,
    run: dict[str, Any],
    changes: dict[str, Any],
    members: dict[int, bool],
    save_states: Any = None,
) -> bool:
    """One page done, in one transaction: counters, cursor, person states, who is inside, and
    the job for the next page (unless the run ended). False when the run was cancelled."""
    state = changes.get("state", run["state"])
    changes = {**changes, "pages": run["pages"] + 1, "updated_at": now()}
    if state in ("previewed", "done"):
        changes["finished_at"] = now() if state == "done" else None
    with store.tx() as db:
        assignments = ", ".join(f"{k}=?" for k in changes)
        updated = db.execute(
            f"UPDATE rule_runs SET {assignments} WHERE id=? AND state=?",  # noqa: S608
            (*changes.values(), run["id"], run["state"]),
        ).rowcount
        if save_states is not None:
            save_states(db)  # Maileon has these contacts already, cancelled or not
        if members:
            remember(db, company_id, members)
        if updated and state in ("previewing", "applying"):
            queue.upsert_job(db, company_id, KIND, str(run["id"]), {"run_id": run["id"]})
    return bool(updated)


def owners_seen(run: dict[str, Any] | None) -> list[int]:
    try:
        return [int(i) for i in json.loads((run or {}).get("owners_seen") or "[]")]
    except (TypeError, ValueError):
        return []
