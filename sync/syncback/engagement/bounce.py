"""Maileon's `bounce` webhook (F15): stored at once by the receiver (Maileon waits 5 s at most),
then this job ties it to the person, learns type, code and mailing from `/reports/bounces`
(the webhook body carries only what was registered: address, external id, time, message id)
and writes what the bounce calls for."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from clients.errors import TransientError
from store import engagement as store
from store import queue
from store.db import Store
from store.queue import Job
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.syncback.engagement.events import epoch, event_of, person_of
from sync.syncback.engagement.reader import read_window
from sync.syncback.engagement.writes import write_events
from sync.webhook.parse import normalize_time

EVENT = "bounce"
JOB_KIND = "engagement.bounce"
LOOK_BACK = 3600  # seconds before the webhook's time the report is read from
REPORT_TRIES = 3  # attempts to find the bounce in the report before storing it as it came
RETRY_AFTER = 120.0


def record(store_: Store, company_id: int, data: dict[str, str], payload: dict[str, Any]) -> bool:
    """Event + job in one transaction; False for a repeated delivery."""
    who = data["external_id"] or data["email"].lower() or "-"
    raw = f"bounce|{who}|{data['timestamp']}|{data['msg_id']}"
    if not (data["timestamp"] or data["msg_id"]):
        raw += f"|{int(time.time() // 3600)}"
    digest = hashlib.sha256(raw.encode()).hexdigest()[:40]
    return queue.record_event(
        store_,
        company_id=company_id,
        source="maileon",
        dedupe_key=f"mb:{digest}",
        kind="maileon.bounce",
        entity_id=f"eid:{data['external_id']}" if data["external_id"] else "bounce",
        payload=payload,
        job_kind=JOB_KIND,
        job_payload=data,
        version=normalize_time(time.time()),
    )


async def handle_bounce(ctx: Context, job: Job) -> Outcome:
    data = {
        k: str(job.payload.get(k) or "") for k in ("email", "external_id", "timestamp", "msg_id")
    }
    company_id = job.company_id
    eng = store.get_settings(ctx.store, company_id)
    if not eng.on:
        return Outcome.skipped("engagement is off; a Maileon bounce was not recorded")
    pid = person_of(ctx.store, company_id, data["external_id"], data["email"])
    who = data["email"] or f"external id {data['external_id'] or '?'}"
    if pid is None:
        return Outcome.skipped(f"Maileon bounce of {who}: no synced Pipedrive person has it")
    at = epoch(data["timestamp"]) or time.time()
    key = event_of("bounce", pid, data, at)["key"]
    now_ms = int(time.time() * 1000)
    result = await read_window(
        ctx.store,
        ctx.maileon(company_id),
        company_id,
        int((at - LOOK_BACK) * 1000),
        now_ms,
        eids=[str(pid)],
        reports=("bounces", "blocks"),
    )
    new = list(result.new)
    listed = store.has_event(ctx.store, company_id, key)
    if not listed and data["msg_id"] and job.attempts + 1 < REPORT_TRIES:
        raise TransientError(
            f"Maileon's bounce report does not list the bounce of {who} yet",
            retry_after=RETRY_AFTER * ctx.config.periodic_scale,
        )
    if not listed:
        new += store.add_events(ctx.store, company_id, [event_of("bounce", pid, data, at)])
    wrote = await write_events(ctx, company_id, new)
    kinds = ", ".join(
        f"{e['bounce_type'] or 'unknown'} bounce" if e["kind"] == "bounce" else e["kind"]
        for e in new
    )
    message = f"Maileon bounce of {who}: " + (kinds or "already recorded")
    return Outcome.ok(message + (f"; {wrote}" if wrote else ""))
