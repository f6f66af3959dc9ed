"""Sync health facts for the settings page (F13)."""

from __future__ import annotations

from typing import Any

from clients.errors import ApiError
from store import outages, people, queue, synclog, tenants
from store.db import now
from sync.context import Context
from sync.log_view import LogLine, words
from sync.setup import pipedrive_webhook_url, wanted_webhooks

PENDING_TOO_LONG = 48 * 3600.0
KEY_STATUS = {"unset": "not set", "valid": "valid", "invalid": "rejected by Maileon",
              "forbidden": "lacks privileges"}


async def webhook_status(ctx: Context, company_id: int) -> str:
    cached = ctx.cached(company_id, "webhook_status", 60)
    if isinstance(cached, str):
        return cached
    settings = tenants.get_settings(ctx.store, company_id)
    wanted = wanted_webhooks(settings)
    if not wanted:
        text = "none needed (sync is off)"
    else:
        try:
            hooks = await ctx.pipedrive(company_id).list_webhooks()
        except ApiError as exc:
            return f"could not be checked: {exc.message}"
        url = pipedrive_webhook_url(ctx)
        have = {(h.get("event_object"), h.get("event_action")) for h in hooks
                if h.get("subscription_url") == url}
        missing = wanted - have
        text = (f"all {len(wanted)} present" if not missing else
                f"{len(missing)} of {len(wanted)} missing (they are re-created automatically)")
    ctx.remember(company_id, "webhook_status", text, 60)
    return text


def sync_log(ctx: Context, company_id: int, failed_only: bool) -> list[LogLine]:
    """Changes waiting for a retry first, then the log (or only the open failures)."""
    store = ctx.store
    rows = (synclog.open_failures(store, company_id) if failed_only
            else synclog.recent(store, company_id))
    waits = [] if failed_only else synclog.waiting(store, company_id)
    names = synclog.names(store, company_id,
                          {(str(r["kind"]), str(r["entity_id"])) for r in rows + waits})
    return ([words(w, names, waiting=True) for w in waits]
            + [words(r, names) for r in rows])


async def health(ctx: Context, company_id: int, failed_only: bool = False) -> dict[str, Any]:
    settings = tenants.get_settings(ctx.store, company_id)
    stuck, stuck_emails = people.pending_since(ctx.store, company_id, now() - PENDING_TOO_LONG)
    attention_count, attention = synclog.needing_attention(ctx.store, company_id)
    names = synclog.names(ctx.store, company_id,
                          {(str(r["kind"]), str(r["entity_id"])) for r in attention})
    return {
        "pending_stuck": stuck, "pending_stuck_emails": stuck_emails,
        "installations": tenants.list_installations(ctx.store, company_id),
        "key_tone": {"valid": "ok", "unset": ""}.get(settings.maileon_key_status, "bad"),
        "key_status_text": KEY_STATUS.get(settings.maileon_key_status,
                                          settings.maileon_key_status),
        "webhook_text": await webhook_status(ctx, company_id),
        "queue_depth": queue.depth(ctx.store, company_id),
        "outages": outages.current(ctx.store, company_id),
        "attention_count": attention_count,
        "attention": [words(r, names) for r in attention],
        "last_ok": synclog.last_ok(ctx.store, company_id),
        "failed_count": synclog.failed_count(ctx.store, company_id),
        "failed_only": failed_only,
        "log": sync_log(ctx, company_id, failed_only),
    }
