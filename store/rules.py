"""Sync rules (F14) storage: the active rules, who was inside them, and rule-change runs
(saving a run's step, cancel and resume are the runs' own: store/runs.py, with TABLE)."""

from __future__ import annotations

import json
from typing import Any

from store import runs
from store.db import Store, now
from store.runs import RunTable

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
# A preview or an apply is driven by its jobs; a previewed run waits for the admin, who applies
# or discards it (Cancel ends it too).
TABLE = RunTable(
    table="rule_runs",
    kind=KIND,
    key="run_id",
    working=("previewing", "applying"),
    open=("previewing", "previewed", "applying"),
    noun="sync rules run",
)


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
        runs.end(db, TABLE, company_id, "replaced by a new preview")
        cur = db.execute(
            "INSERT INTO rule_runs (company_id, state, rules, started_by, "
            "started_at, updated_at) VALUES (?,?,?,?,?,?)",
            (company_id, "previewing", rules_json, user_id, t, t),
        )
        run_id = int(cur.lastrowid or 0)
        runs.queue_step(db, TABLE, company_id, run_id)
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
        runs.queue_step(db, TABLE, company_id, run_id)
    return True


def owners_seen(run: dict[str, Any] | None) -> list[int]:
    try:
        return [int(i) for i in json.loads((run or {}).get("owners_seen") or "[]")]
    except (TypeError, ValueError):
        return []
