"""Sync health facts for the settings page (F13); web/health_view.py words them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.errors import ApiError
from store import outages, people, queue, synclog, tenants
from store.db import now
from sync.context import Context
from sync.setup import pipedrive_webhook_url, wanted_webhooks

PENDING_TOO_LONG = 48 * 3600.0


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
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[tuple[str, str], str]]:
    """The log lines (or only the open failures), the changes waiting for a retry, and the
    names of the persons and deals they are about."""
    store = ctx.store
    rows = (
        synclog.open_failures(store, company_id)
        if failed_only
        else synclog.recent(store, company_id)
    )
    waits = [] if failed_only else synclog.waiting(store, company_id)
    names = synclog.names(
        store, company_id, {(str(r["kind"]), str(r["entity_id"])) for r in rows + waits}
    )
    return rows, waits, names


async def health_facts(ctx: Context, company_id: int, failed_only: bool = False) -> dict[str, Any]:
    settings = tenants.get_settings(ctx.store, company_id)
    stuck, stuck_emails = people.pending_since(ctx.store, company_id, now() - PENDING_TOO_LONG)
    attention_count, attention = synclog.needing_attention(ctx.store, company_id)
    names = synclog.names(
        ctx.store, company_id, {(str(r["kind"]), str(r["entity_id"])) for r in attention}
    )
    rows, waits, log_names = log_rows(ctx, company_id, failed_only)
    return {
        "pending_stuck": stuck,
        "pending_stuck_emails": stuck_emails,
        "installations": tenants.list_installations(ctx.store, company_id),
        "key_status": settings.maileon_key_status,
        "sync_on": settings.contacts_sync or settings.deals_sync,
        "webhooks": await webhook_check(ctx, company_id),
        "queue_depth": queue.depth(ctx.store, company_id),
        "try_now": queue.waiting_count(ctx.store, company_id),
        "outages": outages.current(ctx.store, company_id),
        "attention_count": attention_count,
        "attention_rows": attention,
        "attention_names": names,
        "last_ok": synclog.last_ok(ctx.store, company_id),
        "failed_count": synclog.failed_count(ctx.store, company_id),
        "failed_only": failed_only,
        "log_rows": rows,
        "waiting_rows": waits,
        "log_names": log_names,
    }
