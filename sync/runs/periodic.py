"""The periodic jobs: self-healing webhooks, the missed-change sweep, token refresh, pruning."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from clients.errors import ApiError
from store import cursors, engagement, jobs, people, queue, space, tenants
from store.db import now
from store.queue import Job
from sync.configure import sync_webhooks
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.engine.schedule import schedule_next
from sync.persons.person import from_pipedrive
from sync.wording import plural

Handler = Callable[[Context, Job], Awaitable[Outcome]]


def periodic(kind: str) -> Callable[[Handler], Handler]:
    """Wrap a periodic handler so the next run is scheduled whatever the outcome."""

    def wrap(fn: Handler) -> Handler:
        async def run(ctx: Context, job: Job) -> Outcome:
            try:
                return await fn(ctx, job)
            finally:
                if tenants.company_exists(ctx.store, job.company_id):
                    schedule_next(ctx.store, job.company_id, kind, ctx.config.periodic_scale)

        return run

    return wrap


@periodic("periodic.webhooks")
async def heal_webhooks(ctx: Context, job: Job) -> Outcome:
    settings = tenants.get_settings(ctx.store, job.company_id)
    if not (settings.contacts_sync or settings.deals_sync):
        return Outcome.skipped("sync is off; no webhooks needed")
    notes = await sync_webhooks(ctx, ctx.pipedrive(job.company_id), settings)
    if not notes:
        return Outcome.quiet("all webhooks present")
    return Outcome.ok("missing Pipedrive webhooks re-created: " + "; ".join(notes))


@periodic("periodic.sweep")
async def sweep_persons(ctx: Context, job: Job) -> Outcome:
    """Queue persons changed since the last sweep that the webhooks did not bring."""
    settings = tenants.get_settings(ctx.store, job.company_id)
    if not settings.contacts_sync:
        return Outcome.skipped("contacts sync is off")
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    since = cursors.get(ctx.store, job.company_id, "sweep")
    if since is None:
        _save_cursor(ctx, job.company_id, started)
        return Outcome.skipped("first sweep: watching for changes from now on")
    client = ctx.pipedrive(job.company_id)
    cursor: str | None = None
    queued = 0
    while True:
        persons, cursor = await client.list_persons(cursor=cursor, updated_since=since)
        with ctx.store.tx() as db:
            for raw in persons:
                person = from_pipedrive(raw)
                known = people.get(ctx.store, job.company_id, person.id)
                if known.last_update_time and person.update_time <= known.last_update_time:
                    continue
                if queue.holds_change(
                    db, job.company_id, "person", str(person.id), person.update_time
                ):
                    continue  # delivered already: queued, or failed (one change, one row)
                queue.upsert_job(
                    db,
                    job.company_id,
                    "person",
                    str(person.id),
                    {"action": "change", "data": raw, "source": "sweep"},
                    person.update_time,
                )
                queued += 1
        if not cursor:
            break
    _save_cursor(ctx, job.company_id, started)
    if not queued:
        return Outcome.quiet("sweep found nothing missed")
    return Outcome.ok(f"sweep found {plural(queued, 'change')} the webhooks had not delivered")


def _save_cursor(ctx: Context, company_id: int, value: str) -> None:
    cursors.put(ctx.store, company_id, "sweep", value)


@periodic("periodic.tokens")
async def refresh_tokens(ctx: Context, job: Job) -> Outcome:
    refreshed, failed = 0, 0
    for inst in tenants.list_installations(ctx.store, job.company_id):
        if inst["status"] != "active" or inst["expires_at"] - now() > 2400:
            continue
        try:
            await ctx.tokens.access_token(job.company_id, inst["user_id"])
            refreshed += 1
        except ApiError:
            failed += 1
    if failed:
        return Outcome.skipped(
            plural(failed, "Pipedrive authorization") + " could not be refreshed"
        )
    return Outcome.quiet(f"tokens refreshed: {refreshed}")


@periodic("periodic.prune")
async def prune(ctx: Context, job: Job) -> Outcome:
    """Raw webhook bodies, finished jobs and sync-log lines (names, addresses) are kept for
    RETENTION_DAYS."""
    cutoff = now() - ctx.config.retention_days * 86400  # RETENTION_DAYS
    jobs.prune(ctx.store, job.company_id, cutoff)
    engagement.prune(ctx.store, job.company_id, cutoff)
    space.reclaim(ctx.store)  # what this and earlier prunes or imports freed, to the disk
    return Outcome.quiet("old events, jobs and log lines pruned")
