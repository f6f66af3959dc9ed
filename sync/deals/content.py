"""A Pipedrive deal (v2 webhook `data`/`previous`, or the flat v1 `current`/`previous`) as the
content of a Maileon deal transaction, in Maileon's value formats (timestamps
`yyyy-mm-dd hh:mm:ss` UTC, dates `yyyy-mm-dd`, strings ≤ 1000 characters).

v1 carries references either as plain ids or as objects with `value` (and a `name`), and the
owner as `user_id`; v2 carries plain ids and `owner_id`. Stage and pipeline names are looked up
in lists cached per company (deals:read); a lookup Pipedrive refuses leaves that name empty
rather than holding back the transaction. The owner's name is sent only when the deal names it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from clients.errors import PermanentError
from store import tenants
from sync.engine.context import Context
from sync.persons.organizations import organization_names
from sync.webhook.parse import normalize_time, ref_id

NAMES_TTL = 600.0
MAX_TEXT = 1000


def ref_name(value: Any) -> str:
    return str(value.get("name") or "") if isinstance(value, dict) else ""


def text(value: Any) -> str:
    return "" if value is None else str(value)[:MAX_TEXT]


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def timestamp(value: Any) -> str:
    """Any Pipedrive time form → `yyyy-mm-dd hh:mm:ss` (UTC); '' when absent or unreadable."""
    normalized = normalize_time(value)
    return f"{normalized[:10]} {normalized[11:19]}" if normalized else ""


def day(value: Any) -> str:
    try:
        return date.fromisoformat(str(value)[:10]).isoformat() if value else ""
    except ValueError:
        return ""


def deal_url(ctx: Context, company_id: int, deal_id: int) -> str:
    domain = tenants.company_domain(ctx.store, company_id)
    return f"https://{domain}.pipedrive.com/deal/{deal_id}" if domain else ""


async def _name(
    ctx: Context,
    company_id: int,
    what: str,
    item_id: int | None,
    fetch: Callable[[], Awaitable[list[dict[str, Any]]]],
) -> str:
    """Name of a stage/pipeline/user from a cached id → name list (re-read on a miss)."""
    if item_id is None:
        return ""
    names = ctx.cached(company_id, f"deal_{what}_names", NAMES_TTL)
    if not isinstance(names, dict) or item_id not in names:
        try:
            names = {
                int(row["id"]): str(row.get("name") or "")
                for row in await fetch()
                if isinstance(row, dict) and row.get("id") is not None
            }
        except PermanentError:
            names = {}
        ctx.remember(company_id, f"deal_{what}_names", names, NAMES_TTL)
    return str(names.get(item_id, ""))


async def _organization(ctx: Context, company_id: int, deal: dict[str, Any]) -> str:
    org = deal.get("org_id")
    name = str(deal.get("org_name") or "") or ref_name(org)
    org_id = ref_id(org)
    if name or org_id is None:
        return name
    try:
        return (await organization_names(ctx, company_id, {org_id})).get(org_id, "")
    except PermanentError:
        return ""


def known_user(ctx: Context, company_id: int, user_id: int | None) -> str:
    """A Pipedrive user as the app knows it: the name an installing user's /users/me gave, else
    "Pipedrive user <id>"."""
    if user_id is None:
        return ""
    names = {
        i["user_id"]: i["user_name"] for i in tenants.list_installations(ctx.store, company_id)
    }
    return str(names.get(user_id) or f"Pipedrive user {user_id}")


async def deal_content(ctx: Context, company_id: int, deal: dict[str, Any]) -> dict[str, Any]:
    """Transaction content; empty values are left out (Maileon treats absent as empty)."""
    deal_id = int(deal["id"])
    # The owner's name as the deal names it (v1: `owner_name`, or `user_id` as an object), else
    # as the app knows the user (an installing user's /users/me name), else the user id. Looking
    # names up in /v1/users needs the users:read scope, which the app does not ask for.
    owner = deal.get("owner_id") if "owner_id" in deal else deal.get("user_id")
    pipedrive = ctx.pipedrive(company_id)
    content: dict[str, Any] = {
        "deal_id": deal_id,
        "title": text(deal.get("title")),
        "value": number(deal.get("value")),
        "currency": text(deal.get("currency")),
        "status": text(deal.get("status")),
        "stage": await _name(
            ctx, company_id, "stage", ref_id(deal.get("stage_id")), pipedrive.stages
        ),
        "pipeline": await _name(
            ctx, company_id, "pipeline", ref_id(deal.get("pipeline_id")), pipedrive.pipelines
        ),
        "owner": str(deal.get("owner_name") or "")
        or ref_name(owner)
        or known_user(ctx, company_id, ref_id(owner)),
        "organization": await _organization(ctx, company_id, deal),
        "expected_close_date": day(deal.get("expected_close_date")),
        "won_time": timestamp(deal.get("won_time")),
        "lost_time": timestamp(deal.get("lost_time")),
        "lost_reason": text(deal.get("lost_reason")),
        "update_time": timestamp(deal.get("update_time") or deal.get("add_time")),
        "deal_url": deal_url(ctx, company_id, deal_id),
    }
    return {k: v for k, v in content.items() if v not in (None, "")}
