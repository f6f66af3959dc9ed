"""Periodic work stored as jobs in the same durable queue, one pending job per company and
kind, so a restart neither loses nor doubles a run."""

from __future__ import annotations

import zlib

from store import jobs, queue, tenants
from store.db import Store

# kind -> interval in seconds (scaled by PERIODIC_SCALE)
PERIODIC = {
    "periodic.webhooks": 900.0,  # re-create missing Pipedrive webhooks
    "periodic.sweep": 600.0,  # persons updated since the last sweep (events lost in bans)
    "periodic.tokens": 1800.0,  # refresh access tokens ahead of expiry
    "periodic.prune": 86400.0,  # forget old events, finished jobs and log lines
    "periodic.reconcile": 900.0,  # Maileon unsubscribes no webhook delivered (F10)
    "periodic.engagement": 900.0,  # Maileon engagement reports (F15)
}


def phase(company_id: int, kind: str) -> float:
    """The company's own point in each interval of a kind, in [0, 1): stable, and spread
    evenly over the companies, so a thousand installs (or a thousand companies after a
    restart without their periodic jobs) do not all run their periodic work at once."""
    return zlib.crc32(f"{company_id}:{kind}".encode()) / 2**32


def ensure_periodic(store: Store, scale: float, company_id: int | None = None) -> None:
    """Make sure each company has its periodic jobs queued: the first run at the company's
    phase of the interval; each later one an interval after it (`schedule_next`), so the
    runs of all companies stay spread over the interval."""
    companies = [company_id] if company_id is not None else tenants.company_ids(store)
    with store.tx() as db:
        for cid in companies:
            for kind, interval in PERIODIC.items():
                if not jobs.has_open(db, cid, kind):
                    queue.upsert_job(
                        db,
                        cid,
                        kind,
                        "company",
                        {"action": "run"},
                        delay=phase(cid, kind) * interval * scale,
                    )


def schedule_next(store: Store, company_id: int, kind: str, scale: float) -> None:
    with store.tx() as db:
        queue.upsert_job(
            db, company_id, kind, "company", {"action": "run"}, delay=PERIODIC[kind] * scale
        )
