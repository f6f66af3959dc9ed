"""The Maileon transaction types deals are sent as, created on first use (F9).

Find before create: GET by name, then POST when missing. Concurrent first uses of one type are
serialized per (company, type) with `Context.company_lock`, and a 409 from a concurrent creator
(another process or a company sharing the Maileon account) counts as "exists". A known type is
cached, so the lookup happens once per TTL; `forget_type` drops that when Maileon says the type
is gone.
"""

from __future__ import annotations

from clients.maileon import MaileonClient
from sync.context import Context

TYPE_TTL = 3600.0
TYPES = {
    "create": "pipedrive_deal_added",
    "change": "pipedrive_deal_updated",
    "delete": "pipedrive_deal_deleted",
}
DESCRIPTIONS = {
    "pipedrive_deal_added": "Pipedrive deal added",
    "pipedrive_deal_updated": "Pipedrive deal updated",
    "pipedrive_deal_deleted": "Pipedrive deal deleted",
}
# (name, Maileon type, required) — values are formatted to match in sync/deal_content.py
ATTRIBUTES: list[tuple[str, str, bool]] = [
    ("deal_id", "integer", True),
    ("title", "string", False),
    ("value", "double", False),
    ("currency", "string", False),
    ("status", "string", False),
    ("stage", "string", False),
    ("pipeline", "string", False),
    ("owner", "string", False),
    ("organization", "string", False),
    ("expected_close_date", "date", False),
    ("won_time", "timestamp", False),
    ("lost_time", "timestamp", False),
    ("lost_reason", "string", False),
    ("update_time", "timestamp", False),
    ("deal_url", "string", False),
]


def _cache_key(name: str) -> str:
    return f"maileon_transaction_type:{name}"


async def ensure_type(ctx: Context, maileon: MaileonClient, company_id: int, name: str) -> None:
    if ctx.cached(company_id, _cache_key(name), TYPE_TTL):
        return
    async with ctx.company_lock(company_id, _cache_key(name)):
        if ctx.cached(company_id, _cache_key(name), TYPE_TTL):
            return  # created by the job that held the lock
        if not await maileon.transaction_type_exists(name):
            await maileon.create_transaction_type(name, DESCRIPTIONS[name], ATTRIBUTES)
        ctx.remember(company_id, _cache_key(name), True, TYPE_TTL)


def forget_type(ctx: Context, company_id: int, name: str) -> None:
    ctx.caches.pop((company_id, _cache_key(name)), None)
