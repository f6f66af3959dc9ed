"""Sync health facts for the settings page (F13); web/health_view.py words them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from clients.errors import ApiError
from store import outages, people, queue, synclog, tenants
from store.db import now
from sync.configure import pipedrive_webhook_url, wanted_webhooks
from sync.engine.context import Context

PENDING_TOO_LONG = 48 * 3600.0
QUEUE_REFUSED = "queue_refused_at"  # ctx cache: when a webhook was last refused (queue full)


@dataclass(frozen=True)
class WebhookCheck:
    """Our Pipedrive webhooks: how many are wanted and missing, or why they could not be
    checked."""

    wanted: int = 0
    missing: int = 0
    error: str = ""


async def webhook_check(ctx: Context, company_id: int) -> WebhookCheck:
    cached = ctx.cached(company_id, "webhook_status", 60)
    if isinstance(cached, WebhookCheck):
        return cached
    settings = tenants.get_settings(ctx.store, company_id)
    wanted = wanted_webhooks(settings)
    check = WebhookCheck()
    if wanted:
        try:
            hooks = await ctx.pipedrive(company_id).list_webhooks()
        except ApiError as exc:
            return WebhookCheck(len(wanted), error=exc.message)
        url = pipedrive_webhook_url(ctx)
        have = {
            (h.get("event_object"), h.get("event_action"))
            for h in hooks
            if h.get("subscription_url") == url
        }
        check = WebhookCheck(len(wanted), len(wanted - have))
    ctx.remember(company_id, "webhook_status", check, 60)
    return check


def log_rows(
    ctx: Context, company_id: int, failed_only: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The log lines (or only the open failures) and the changes waiting for a retry."""
    store = ctx.store
    rows = (
        synclog.open_failures(store, company_id)
        if failed_only
        else synclog.recent(store, company_id)
    )
    waits = [] if failed_only else synclog.waiting(store, company_id)
    return rows, waits


def stored_facts(ctx: Context, company_id: int, failed_only: bool) -> dict[str, Any]:
    """What the card reads from the store. Each read stops at what the card shows, through an
    index; counts cover what is waiting or failed now, never the retained history."""
    store = ctx.store
    settings = tenants.get_settings(store, company_id)
    stuck, stuck_emails = people.pending_since(store, company_id, now() - PENDING_TOO_LONG)
    attention_count, attention = synclog.needing_attention(store, company_id)
    rows, waits = log_rows(ctx, company_id, failed_only)
    return {
        "worker_trouble": ctx.worker_trouble,
        "pending_stuck": stuck,
        "pending_stuck_emails": stuck_emails,
        "installations": tenants.list_installations(store, company_id),
        "key_status": settings.maileon_key_status,
        "sync_on": settings.contacts_sync or settings.deals_sync,
        "queue_depth": queue.depth(store, company_id),
        "queued_bytes": queue.queued_bytes(store, company_id),
        "try_now": queue.waiting_count(store, company_id),
        "outages": outages.current(store, company_id),
        "attention_count": attention_count,
        "attention_rows": attention,
        "last_ok": synclog.last_ok(store, company_id),
        "failed_count": synclog.failed_count(store, company_id),
        "failed_only": failed_only,
        "log_rows": rows,
        "waiting_rows": waits,
    }


async def health_facts(ctx: Context, company_id: int, failed_only: bool = False) -> dict[str, Any]:
    # In a thread: while the store answers, the event loop serves everyone else's requests.
    facts = await asyncio.to_thread(stored_facts, ctx, company_id, failed_only)
    facts["webhooks"] = await webhook_check(ctx, company_id)
    limit = ctx.config.queue_limit_bytes
    facts["queue_full"] = facts["queued_bytes"] >= limit
    facts["queue_limit_mb"] = round(limit / 1024 / 1024, 1)
    facts["queued_mb"] = round(facts.pop("queued_bytes") / 1024 / 1024, 1)
    facts["queue_refused_at"] = ctx.cached(company_id, QUEUE_REFUSED, 0)
    return facts
