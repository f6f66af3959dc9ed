"""Admin rights follow Pipedrive, not the install (issue #13): every change (save, import
start/cancel/resume, retry) asks Pipedrive with the acting user's own token; viewing uses an
answer at most VIEW_MAX_AGE old.

The call is `GET /api/v1/users/me` (scope `base`, which every installation has). Its
`access[]` lists the user's rights per Pipedrive app (`sales`, `global`, `campaigns`,
`projects`, …); only an admin of `global` or `sales` administers the CRM and so this app. An
admin of Campaigns alone is not. `is_admin` (gone from the user schema since 2022) counts only
when the answer has no `access` at all.
"""

from __future__ import annotations

from typing import Any

from clients.errors import ApiError
from store import tenants
from sync.engine.context import Context
from sync.webhook.parse import parse_id

VIEW_MAX_AGE = 120.0
FALLBACK_MAX_AGE = 30.0  # Pipedrive unreachable: the stored answer, for a short while


CRM_APPS = ("global", "sales")


def admin_flag(me: dict[str, Any]) -> bool:
    access = me.get("access")
    if access is None:
        return me.get("is_admin") is True
    if not isinstance(access, list):
        return False
    return any(
        isinstance(a, dict) and a.get("app") in CRM_APPS and a.get("admin") is True for a in access
    )


def _cache_name(user_id: int) -> str:
    return f"admin_rights:{user_id}"


async def confirmed_admin(ctx: Context, company_id: int, user_id: int) -> bool:
    """Ask Pipedrive now; the answer is stored and cached for viewing. Raises ApiError when
    Pipedrive cannot answer (the caller refuses the change)."""
    me = await ctx.tokens.client(company_id, user_id).users_me()
    same_user = parse_id(me.get("company_id")) == company_id and parse_id(me.get("id")) == user_id
    admin = same_user and admin_flag(me)
    tenants.set_admin(ctx.store, company_id, user_id, admin)
    ctx.remember(company_id, _cache_name(user_id), admin, VIEW_MAX_AGE)
    return admin


async def admin_for_viewing(ctx: Context, company_id: int, user_id: int, stored: bool) -> bool:
    cached = ctx.cached(company_id, _cache_name(user_id), VIEW_MAX_AGE)
    if isinstance(cached, bool):
        return cached
    try:
        return await confirmed_admin(ctx, company_id, user_id)
    except ApiError:
        ctx.remember(company_id, _cache_name(user_id), stored, FALLBACK_MAX_AGE)
        return stored
