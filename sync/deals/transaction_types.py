"""The Maileon transaction types deals are sent as, created on first use (F9).

Find before create: GET by name, then POST when missing. Concurrent first uses of one type are
serialized per (company, type) with `Context.company_lock`, and a 409 from a concurrent creator
(another process or a company sharing the Maileon account) counts as "exists". A known type is
cached, so the lookup happens once per TTL; `forget_type` drops that when Maileon says the type
is gone.

Every type carries the special attribute `transaction_id` (EVENT_ID): the app fills it with a
stable id per deal event, so Maileon can be asked whether it holds an event whose answer was
lost, and a duplicate is recognisable. A type created before has it added (Maileon lets a type
gain attributes); where that fails, the type is used without it and a lost answer leaves the
event uncertain (sync/deals/handler.py).
"""

from __future__ import annotations

import logging

from clients.errors import ApiError, TransientError
from clients.maileon import MaileonClient, TransactionType
from sync.engine.context import Context

log = logging.getLogger("pipedrive_maileon.deals")

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
EVENT_ID = "transaction_id"  # Maileon's special attribute: one id per transaction
# (name, Maileon type, required) — values are formatted to match in sync/deals/content.py
ATTRIBUTES: list[tuple[str, str, bool]] = [
    (EVENT_ID, "string", False),
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


async def ensure_type(
    ctx: Context, maileon: MaileonClient, company_id: int, name: str
) -> TransactionType:
    """The type as Maileon holds it, created (or given the event id) when needed."""
    known = ctx.cached(company_id, _cache_key(name), TYPE_TTL)
    if isinstance(known, TransactionType):
        return known
    async with ctx.company_lock(company_id, _cache_key(name)):
        known = ctx.cached(company_id, _cache_key(name), TYPE_TTL)
        if isinstance(known, TransactionType):
            return known  # created by the job that held the lock
        current = await maileon.transaction_type(name)
        if current is None:
            await maileon.create_transaction_type(name, DESCRIPTIONS[name], ATTRIBUTES)
            current = await maileon.transaction_type(name)
            if current is None:
                raise TransientError(f"Maileon does not show the new transaction type {name} yet")
        elif not current.has(EVENT_ID):
            current = await _add_event_id(maileon, current)
        ctx.remember(company_id, _cache_key(name), current, TYPE_TTL)
        return current


async def _add_event_id(maileon: MaileonClient, current: TransactionType) -> TransactionType:
    try:
        await maileon.add_transaction_attributes(current, [(EVENT_ID, "string", False)])
    except TransientError:
        raise
    except ApiError as exc:
        log.warning(
            "the Maileon transaction type %s could not get the %s attribute (%s): its events"
            " are sent without one, and one whose answer is lost fails as uncertain",
            current.name,
            EVENT_ID,
            exc.message,
        )
        return current
    return await maileon.transaction_type(current.name) or current


def forget_type(ctx: Context, company_id: int, name: str) -> None:
    ctx.caches.pop((company_id, _cache_key(name)), None)
