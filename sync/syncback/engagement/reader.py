"""Reading Maileon's engagement reports (F15) over a persistent per-company cursor.

Windows are half-open (`from_date` inclusive, `to_date` exclusive), so `[cursor, until)` then
`[until, …)` see every row once; events are stored under their natural key anyway, so a read
that fails half-way and is repeated stores nothing twice. The cursor moves only after every
report of the window was read. Only while engagement is on for the company."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from clients.digits import ascii_int
from clients.maileon import MaileonClient
from clients.maileon_reports import mailing_label, report_page
from store import cursors, tenants
from store import engagement as store
from store.db import Store, now
from store.queue import Job
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.syncback.engagement.events import KIND, epoch, event_of, person_of
from sync.syncback.engagement.writes import write_events
from sync.wording import plural

CURSOR = "engagement_reports"
PAGE_SIZE = 1000
MAX_PAGES = 1000  # per report and run: a million rows
READ_LAG = 600.0  # seconds (times periodic_scale) the reports may trail behind Maileon's clock
FIRST_WINDOW = 7 * 86400  # a first read looks back a week
# Each read also goes over the events stored in the last two days: a Pipedrive write that
# failed (the read's job is retried, but its events are no longer new), was over the day's
# budget, or waits for its day to end (the digest) is made then; writes are keyed, so going over
# an event again writes nothing twice.
CATCH_UP = 2 * 86400
PERSON_WINDOW = 180 * 86400  # the panel's refresh of one person
REPORTS = ("recipients", "opens", "clicks", "bounces", "blocks", "unsubscriptions")


@dataclass
class ReadResult:
    new: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    calls: int = 0
    unknown: int = 0  # rows whose contact is no synced, live person
    odd: int = 0  # rows of an unexpected shape
    no_mailing: int = 0  # rows naming a mailing Maileon does not know (deleted)

    def warning(self) -> str:
        parts = []
        if self.unknown:
            parts.append(
                plural(self.unknown, "report row") + " named a contact that is no synced "
                "Pipedrive person (unknown, deleted or merged away) and was skipped"
            )
        if self.odd:
            parts.append(
                plural(self.odd, "report row") + " had an unexpected shape and was skipped"
            )
        if self.no_mailing:
            parts.append(
                plural(self.no_mailing, "report row") + " named a mailing Maileon does not "
                "know (deleted) and was skipped"
            )
        return "; ".join(parts)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def read_window(
    store_: Store,
    maileon: MaileonClient,
    company_id: int,
    from_ms: int,
    to_ms: int,
    eids: list[str] | None = None,
    reports: tuple[str, ...] = REPORTS,
) -> ReadResult:
    """Every report over `[from_ms, to_ms)`, every page; new events stored, mailings labelled
    (a row naming a mailing Maileon does not know is skipped)."""
    result = ReadResult()
    mailings: dict[str, bool] = {}  # mailing id -> whether Maileon knows it
    for report in reports:
        page = 1
        while page <= MAX_PAGES:
            got = await report_page(
                maileon,
                report,
                from_ms=from_ms,
                to_ms=to_ms,
                page_index=page,
                page_size=PAGE_SIZE,
                eids=eids,
            )
            result.calls += 1
            result.odd += got.odd
            events = []
            for row in got.rows:
                result.rows += 1
                at = epoch(row["timestamp"])
                if at is None:
                    result.odd += 1
                    continue
                pid = person_of(store_, company_id, row["external_id"], row["email"])
                if pid is None:
                    result.unknown += 1
                    continue
                events.append(event_of(KIND[report], pid, row, at))
            await label_mailings(store_, maileon, company_id, events, mailings)
            known = [e for e in events if not e["mailing_id"] or mailings[e["mailing_id"]]]
            result.no_mailing += len(events) - len(known)
            result.new += store.add_events(store_, company_id, known)
            if page >= got.pages or len(got.rows) < PAGE_SIZE:
                break
            page += 1
    return result


async def label_mailings(
    store_: Store,
    maileon: MaileonClient,
    company_id: int,
    events: list[dict[str, Any]],
    seen: dict[str, bool],
) -> None:
    """Name and type of each mailing of `events` not labelled yet (immutable once sent: kept
    forever); `seen` gains, for each, whether Maileon knows it."""
    ids = sorted({e["mailing_id"] for e in events if e["mailing_id"]} - seen.keys())
    labelled = store.mailings(store_, company_id, ids)
    for mid in ids:
        if mid in labelled:
            seen[mid] = True
            continue
        label = await mailing_label(maileon, mid)
        seen[mid] = label is not None
        if label is not None:
            name, kind = label
            store.save_mailing(store_, company_id, mid, name or f"Mailing {mid}", kind)


async def read_reports(ctx: Context, job: Job) -> Outcome:
    """The periodic read (wrapped with @periodic in the handler table)."""
    company_id = job.company_id
    eng = store.get_settings(ctx.store, company_id)
    if not eng.on:
        return Outcome.skipped("engagement is off; Maileon's reports are not read")
    if not tenants.get_settings(ctx.store, company_id).configured:
        return Outcome.quiet("no Maileon API key; no engagement to read")
    until = _now_ms() - int(READ_LAG * ctx.config.periodic_scale * 1000)
    raw = cursors.get(ctx.store, company_id, CURSOR)
    since = ascii_int(raw) or until - FIRST_WINDOW * 1000
    if until <= since:
        return Outcome.quiet("engagement: nothing new to read yet")
    result = await read_window(ctx.store, ctx.maileon(company_id), company_id, since, until)
    cursors.put(ctx.store, company_id, CURSOR, str(until))
    pending = store.stored_since(ctx.store, company_id, now() - CATCH_UP)
    fresh = {e["key"] for e in result.new}
    wrote = await write_events(ctx, company_id, pending, fresh=fresh)
    summary = (
        f"read {plural(result.rows, 'report row')} in {plural(result.calls, 'call')}, "
        f"{plural(len(result.new), 'new event')}" + (f"; {wrote}" if wrote else "")
    )
    store.save_read(ctx.store, company_id, summary, result.warning())
    if result.warning():
        return Outcome.ok(f"Engagement: {summary}. {result.warning()}")
    if result.new:
        return Outcome.ok(f"Engagement: {summary}")
    return Outcome.quiet(f"Engagement: {summary}")


async def refresh_person(ctx: Context, company_id: int, person_id: int) -> ReadResult:
    """The panel's background refresh of one person: the last 180 days by external id."""
    now = _now_ms()
    result = await read_window(
        ctx.store,
        ctx.maileon(company_id),
        company_id,
        now - PERSON_WINDOW * 1000,
        now,
        eids=[str(person_id)],
    )
    await write_events(ctx, company_id, result.new)
    return result
