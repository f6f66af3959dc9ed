"""The "Import existing contacts" card of the settings (F12): start, progress, cancel, resume.

Everyone who can see the settings sees the progress; only admins start, cancel or resume.
The card polls itself (every second) while an import runs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from store import imports, tenants
from sync.context import Context
from web.auth import Identity, requires_admin, requires_identity
from web.import_view import import_view
from web.state import app_context, app_worker
from web.templating import templates


def card_context(ctx: Context, identity: Identity, notice: str = "") -> dict[str, Any]:
    """What partials/import.html needs (also merged into the settings page)."""
    settings = tenants.get_settings(ctx.store, identity.company_id)
    inst = tenants.get_installation(ctx.store, identity.company_id, identity.user_id)
    return {"imp": import_view(ctx.store, identity.company_id), "settings": settings,
            "import_notice": notice, "is_admin": bool(inst and inst.is_admin)}


def _card(request: Request, identity: Identity, notice: str = "", status: int = 200
          ) -> Response:
    if not request.headers.get("hx-request"):
        return RedirectResponse("/settings", status_code=303)
    ctx = app_context(request)
    return templates.TemplateResponse(request, "partials/import.html",
                                      card_context(ctx, identity, notice), status_code=status)


@requires_identity
async def import_card(request: Request, identity: Identity) -> Response:
    return _card(request, identity)


@requires_admin
async def import_start(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    if not tenants.get_settings(ctx.store, identity.company_id).configured:
        return _card(request, identity, "Enter a Maileon API key before importing.", 422)
    form = await request.form()
    deals = form.get("include_deals") in ("1", "on", "true")
    _, started = imports.start(ctx.store, identity.company_id, identity.user_id, deals)
    app_worker(request).wake()
    return _card(request, identity, "" if started else
                 "An import is already running; this is its progress.")


@requires_admin
async def import_cancel(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    cancelled = imports.cancel(ctx.store, identity.company_id)
    return _card(request, identity, "" if cancelled else "No import is running.")


@requires_admin
async def import_resume(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    resumed = imports.resume(ctx.store, identity.company_id)
    app_worker(request).wake()
    return _card(request, identity, "" if resumed else "No import is running.")
