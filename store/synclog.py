"""The sync log for the settings page: recent lines, open failures, changes waiting for a
retry, and the entities that need attention.

Everything the sync health card shows is written with each line (the person's name or deal's
title as `subject`, whether it is routine, the entity's attention state), and every read goes
through an index and stops at what one page shows: the card costs the same with a day or with
RETENTION_DAYS of history (issue #23)."""

from __future__ import annotations

import json
from typing import Any

from store.db import Store, now

# Routine maintenance that had nothing to do ("sync is off", "first sweep") is not shown; when
# it did something or failed it is. (Routine runs that changed nothing are not logged at all.)
HIDDEN_WHEN_SKIPPED = (
    "periodic.webhooks",
    "periodic.sweep",
    "periodic.prune",
    "periodic.engagement",
)
MAX_SUBJECT = 200
MAX_MESSAGE = 500


def subject_of(payload: dict[str, Any]) -> str:
    """The person's name or the deal's title a job's data carries ('' when none)."""
    for part in ("data", "previous"):
        obj = payload.get(part)
        if isinstance(obj, dict):
            for key in ("name", "title"):
                value = obj.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()[:MAX_SUBJECT]
    return ""


def write(
    db: Any,
    company_id: int,
    kind: str,
    entity_id: str,
    result: str,
    message: str,
    job_id: int | None = None,
    subject: str = "",
) -> None:
    """One sync-log line (the message cut to MAX_MESSAGE characters), and the entity's attention
    state; call inside a transaction."""
    t = now()
    hidden = result == "skipped" and kind in HIDDEN_WHEN_SKIPPED
    log_id = db.execute(
        "INSERT INTO sync_log (company_id, at, job_id, kind, entity_id, result, message, "
        "subject, hidden) VALUES (?,?,?,?,?,?,?,?,?)",
        (company_id, t, job_id, kind, entity_id, result, message[:MAX_MESSAGE], subject, hidden),
    ).lastrowid
    if result == "attention":
        db.execute(
            "INSERT INTO attention (company_id, kind, entity_id, log_id, at) VALUES (?,?,?,?,?) "
            "ON CONFLICT (company_id, kind, entity_id) DO UPDATE SET log_id=excluded.log_id, "
            "at=excluded.at",
            (company_id, kind, entity_id, log_id, t),
        )
    else:
        db.execute(
            "DELETE FROM attention WHERE company_id=? AND kind=? AND entity_id=?",
            (company_id, kind, entity_id),
        )


def recent(store: Store, company_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return store.all(
        "SELECT l.*, j.state AS job_state FROM sync_log l LEFT JOIN jobs j ON j.id=l.job_id "
        "WHERE l.company_id=? AND l.hidden=0 ORDER BY l.id DESC LIMIT ?",
        (company_id, limit),
    )


def open_failures(store: Store, company_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The latest line of each job that is failed now (a retried job leaves this list)."""
    return store.all(
        "SELECT l.*, f.state AS job_state FROM (SELECT id, state FROM jobs "
        "WHERE company_id=? AND state='failed' ORDER BY updated_at DESC LIMIT ?) f "
        "JOIN sync_log l ON l.id = (SELECT max(id) FROM sync_log WHERE job_id=f.id) "
        "ORDER BY l.id DESC",
        (company_id, limit),
    )


def failed_count(store: Store, company_id: int) -> int:
    return int(
        store.scalar(
            "SELECT count(*) FROM jobs WHERE company_id=? AND state='failed'", (company_id,)
        )
        or 0
    )


def waiting(store: Store, company_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Changes that failed for a passing reason and wait for their next try, with the name
    their data carries (read from these few jobs only)."""
    rows = store.all(
        "SELECT id AS job_id, kind, entity_id, last_error AS message, run_after, updated_at, "
        "payload FROM jobs WHERE company_id=? AND state='pending' AND last_error!='' "
        "AND kind NOT LIKE 'periodic.%' ORDER BY run_after LIMIT ?",
        (company_id, limit),
    )
    for row in rows:
        row["subject"] = _subject_of_raw(row.pop("payload"))
    return rows


def _subject_of_raw(raw: str) -> str:
    try:
        payload = json.loads(raw)
    except ValueError:
        return ""
    return subject_of(payload) if isinstance(payload, dict) else ""


def last_ok(store: Store, company_id: int) -> float | None:
    value = store.scalar(
        "SELECT max(at) FROM sync_log WHERE company_id=? AND result='ok'", (company_id,)
    )
    return float(value) if value is not None else None


def needing_attention(
    store: Store, company_id: int, limit: int = 5
) -> tuple[int, list[dict[str, Any]]]:
    """Entities whose latest log line says they need attention: how many, and the newest."""
    count = int(
        store.scalar("SELECT count(*) FROM attention WHERE company_id=?", (company_id,)) or 0
    )
    rows = (
        store.all(
            "SELECT l.* FROM attention a JOIN sync_log l ON l.id=a.log_id "
            "WHERE a.company_id=? ORDER BY a.log_id DESC LIMIT ?",
            (company_id, limit),
        )
        if count
        else []
    )
    return count, rows


def prune(db: Any, company_id: int, before: float) -> None:
    """Forget log lines older than `before` and the attention they marked. Inside a tx."""
    db.execute("DELETE FROM sync_log WHERE company_id=? AND at<?", (company_id, before))
    db.execute("DELETE FROM attention WHERE company_id=? AND at<?", (company_id, before))
