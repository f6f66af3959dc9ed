"""Reading the sync log for the settings page: recent lines, open failures, changes waiting
for a retry, and the names of the persons and deals they are about."""

from __future__ import annotations

from typing import Any

from store.db import Store, now

# Routine maintenance that had nothing to do ("sync is off", "first sweep") is not shown; when
# it did something or failed it is. (Routine runs that changed nothing are not logged at all.)
SHOWN = (
    "NOT (l.kind IN ('periodic.webhooks', 'periodic.sweep', 'periodic.prune') "
    "AND l.result='skipped')"
)


def write(
    db: Any,
    company_id: int,
    kind: str,
    entity_id: str,
    result: str,
    message: str,
    job_id: int | None = None,
) -> None:
    """One sync-log line (the message cut to 500 characters); call inside a transaction."""
    db.execute(
        "INSERT INTO sync_log (company_id, at, job_id, kind, entity_id, result, message) "
        "VALUES (?,?,?,?,?,?,?)",
        (company_id, now(), job_id, kind, entity_id, result, message[:500]),
    )


def recent(store: Store, company_id: int, limit: int = 50) -> list[dict[str, Any]]:
    sql = (
        "SELECT l.*, j.state AS job_state FROM sync_log l LEFT JOIN jobs j ON "  # noqa: S608
        "j.id=l.job_id WHERE l.company_id=? AND " + SHOWN + " ORDER BY l.id DESC LIMIT ?"
    )
    return store.all(sql, (company_id, limit))


def open_failures(store: Store, company_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The latest line of each job that is failed now (a retried job leaves this list)."""
    return store.all(
        "SELECT l.*, j.state AS job_state FROM jobs j JOIN sync_log l ON l.id = "
        "(SELECT max(id) FROM sync_log WHERE job_id=j.id) "
        "WHERE j.company_id=? AND j.state='failed' ORDER BY l.id DESC LIMIT ?",
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
    """Changes that failed for a passing reason and wait for their next try."""
    return store.all(
        "SELECT id AS job_id, kind, entity_id, last_error AS message, run_after, updated_at "
        "FROM jobs WHERE company_id=? AND state='pending' AND last_error!='' "
        "AND kind NOT LIKE 'periodic.%' ORDER BY run_after LIMIT ?",
        (company_id, limit),
    )


def last_ok(store: Store, company_id: int) -> float | None:
    value = store.scalar(
        "SELECT max(at) FROM sync_log WHERE company_id=? AND result='ok'", (company_id,)
    )
    return float(value) if value is not None else None


def needing_attention(
    store: Store, company_id: int, limit: int = 5
) -> tuple[int, list[dict[str, Any]]]:
    """Entities whose latest log line says they need attention: how many, and the newest."""
    where = (
        "l.company_id=? AND l.result='attention' AND NOT EXISTS (SELECT 1 FROM sync_log n "
        "WHERE n.company_id=l.company_id AND n.kind=l.kind AND n.entity_id=l.entity_id "
        "AND n.id>l.id)"
    )
    count = int(
        store.scalar(
            f"SELECT count(*) FROM sync_log l WHERE {where}",  # noqa: S608
            (company_id,),
        )
        or 0
    )
    rows = (
        store.all(
            f"SELECT l.* FROM sync_log l WHERE {where} ORDER BY l.id DESC "  # noqa: S608
            "LIMIT ?",
            (company_id, limit),
        )
        if count
        else []
    )
    return count, rows


def names(store: Store, company_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The person's name or deal's title last seen in a queued change, by (kind, id): a deal's
    key is its id without the action (its jobs are `12:create`, `12:change`, `12:delete`)."""
    ids = {(kind, entity) for kind, entity in keys if kind == "person"}
    ids |= {
        ("deal", f"{entity.split(':')[0]}:{action}")
        for kind, entity in keys
        if kind == "deal"
        for action in ("create", "change", "delete")
    }
    if not ids:
        return {}
    marks = ",".join("(?,?)" for _ in ids)
    params: list[Any] = [company_id]
    for kind, entity in ids:
        params += [kind, entity]
    sql = (
        "SELECT kind, entity_id, coalesce(json_extract(payload, '$.data.name'), "  # noqa: S608
        "json_extract(payload, '$.data.title'), json_extract(payload, '$.previous.name'), "
        "json_extract(payload, '$.previous.title')) AS name FROM jobs "
        "WHERE company_id=? AND (kind, entity_id) IN (VALUES " + marks + ") "
        "AND json_valid(payload) ORDER BY id"
    )
    rows = store.all(sql, params)
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        if isinstance(row["name"], str) and row["name"].strip():
            key = (row["kind"], str(row["entity_id"]).split(":")[0])
            found[key] = row["name"].strip()  # the latest wins
    return found
