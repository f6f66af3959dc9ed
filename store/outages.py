"""Outages as the worker sees them, per company and service (Maileon, Pipedrive).

A transient failure (5xx, timeout, 429 wait) opens the outage, or extends it, and records the
entity whose change now waits for a retry. The outage ends when one of those waiting changes
goes through (the service answered again), or when a change succeeds and none waits any more.
Keyed by entity rather than job: a retried job may be folded into a newer pending one.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.db import Store, now


@dataclass
class Outage:
    service: str
    since: float
    last_at: float
    last_error: str
    rate_limited: bool
    waiting: int  # the company's changes in the queue (routine maintenance not counted)
    next_try: float | None  # when the earliest waiting job runs again


def record_failure(
    store: Store,
    company_id: int,
    service: str,
    kind: str,
    entity_id: str,
    message: str,
    rate_limited: bool,
) -> None:
    t = now()
    with store.tx() as db:
        db.execute(
            "INSERT INTO outages (company_id, service, since, last_at, last_error, rate_limited)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (company_id, service) DO UPDATE SET"
            " last_at=excluded.last_at, last_error=excluded.last_error,"
            " rate_limited=excluded.rate_limited",
            (company_id, service, t, t, message[:300], int(rate_limited)),
        )
        db.execute(
            "INSERT OR IGNORE INTO outage_waits (company_id, service, kind, entity_id)"
            " VALUES (?,?,?,?)",
            (company_id, service, kind, entity_id),
        )


def record_success(store: Store, company_id: int, kind: str, entity_id: str) -> list[str]:
    """A change went through: the services it waited on answer again. Returns the services
    whose outage ended."""
    if not store.scalar("SELECT 1 FROM outages WHERE company_id=? LIMIT 1", (company_id,)):
        return []  # the common case costs one indexed read
    with store.tx() as db:
        rows = db.execute(
            "SELECT service FROM outage_waits WHERE company_id=? AND kind=? AND entity_id=?",
            (company_id, kind, entity_id),
        ).fetchall()
        services = [r[0] for r in rows]
        if not services:  # an outage nothing waits on any more (they failed for good)
            services = [
                r[0]
                for r in db.execute(
                    "SELECT service FROM outages o WHERE company_id=? AND NOT EXISTS (SELECT 1"
                    " FROM outage_waits w WHERE w.company_id=o.company_id"
                    " AND w.service=o.service)",
                    (company_id,),
                ).fetchall()
            ]
        for service in services:
            db.execute(
                "DELETE FROM outage_waits WHERE company_id=? AND service=?", (company_id, service)
            )
            db.execute(
                "DELETE FROM outages WHERE company_id=? AND service=?", (company_id, service)
            )
    return services


def forget_entity(store: Store, company_id: int, kind: str, entity_id: str) -> None:
    """The change failed for good: it no longer waits (the outage itself stays open)."""
    store.execute(
        "DELETE FROM outage_waits WHERE company_id=? AND kind=? AND entity_id=?",
        (company_id, kind, entity_id),
    )


def current(store: Store, company_id: int) -> list[Outage]:
    # Every change of the company in the queue waits while a service it needs is out, not only
    # those whose call failed already (many more wait for a slot or a batch meanwhile).
    rows = store.all(
        "SELECT o.*, (SELECT count(*) FROM jobs j WHERE j.company_id=o.company_id"
        " AND j.state IN ('pending','running') AND j.kind NOT LIKE 'periodic.%') AS waiting,"
        " (SELECT min(j.run_after) FROM outage_waits w JOIN jobs j ON j.company_id=w.company_id"
        " AND j.kind=w.kind AND j.entity_id=w.entity_id AND j.state='pending'"
        " WHERE w.company_id=o.company_id AND w.service=o.service) AS next_try"
        " FROM outages o WHERE o.company_id=? ORDER BY o.service",
        (company_id,),
    )
    return [
        Outage(
            r["service"],
            r["since"],
            r["last_at"],
            r["last_error"],
            bool(r["rate_limited"]),
            int(r["waiting"]),
            r["next_try"],
        )
        for r in rows
    ]
