"""The panel's engagement fragment (F15): rendered from what the app holds at once; when the
person was not refreshed for a few minutes the fragment asks for itself again with `refresh=1`,
which reads the person's last 180 days from Maileon and swaps in (HTMX)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.errors import ApiError
from clients.maileon_reports import contact_standing
from store import engagement, people, tenants
from sync.syncback.engagement.reader import refresh_person
from sync.syncback.engagement.view import person_view
from web.admin_rights import admin_for_viewing
from web.auth import Identity, requires_admin, requires_identity
from web.panel import _identity, _refuse, person_id_of, viewer_sees
from web.state import app_context
from web.templating import templates

FRESH = 300.0  # seconds a person's engagement counts as fresh


async def panel_engagement(request: Request) -> Response:
    identity = _identity(request, header_only=True)
    person_id = person_id_of(request.query_params.get("selectedIds", ""))
    if person_id is None:
        raise _refuse(400, "No person selected", "Open a person in Pipedrive.", header_only=True)
    ctx = app_context(request)
    company_id = identity.company_id
    eng = engagement.get_settings(ctx.store, company_id)
    view: dict[str, Any] = {"person_id": person_id, "on": eng.panel, "error": ""}
    if (
        not eng.panel
        or not tenants.get_settings(ctx.store, company_id).configured
        or not await viewer_sees(ctx, identity, person_id)  # nothing stored shown before
    ):
        view["on"] = False
        return templates.TemplateResponse(request, "partials/panel_engagement.html", view)
    name = f"engagement:{person_id}"
    standing = ctx.cached(company_id, name, FRESH)
    if standing is None and request.query_params.get("refresh") == "1":
        standing = await _refresh(ctx, company_id, person_id, view)
        ctx.remember(company_id, name, standing, FRESH)
    view.update(person_view(ctx.store, company_id, person_id))
    view["stale"] = standing is None
    if isinstance(standing, tuple):
        permission, sendout = standing
        view["untracked"] = permission != 5
        view["blocked"] = view["blocked"] or sendout == "blocked"
    return templates.TemplateResponse(request, "partials/panel_engagement.html", view)


async def _refresh(ctx: Any, company_id: int, person_id: int, view: dict[str, Any]) -> object:
    """Read the person anew from Maileon; the contact's permission and sendout status."""
    email = people.get(ctx.store, company_id, person_id).email
    try:
        await refresh_person(ctx, company_id, person_id)
        found = await contact_standing(ctx.maileon(company_id), email) if email else None
    except ApiError as exc:
        view["error"] = f"Maileon could not be asked just now ({exc.message})."
        return "error"
    return found if found is not None else "none"


# --- the settings card ----------------------------------------------------------------------
SWITCH_LABELS = {
    "panel": "Show recent mailings in the Newsletter panel",
    "notes": "Note on the person for each hard bounce and each unsubscribe",
    "fields": "Person fields “Last newsletter click” and “Email bounced”",
    "digest": "Daily click digest note per person",
}


async def _card(request: Request, identity: Identity, notice: str = "") -> Response:
    if not request.headers.get("hx-request"):
        return RedirectResponse("/settings#engagement", status_code=303)
    ctx = app_context(request)
    company_id = identity.company_id
    inst = tenants.get_installation(ctx.store, company_id, identity.user_id)
    is_admin = inst is not None and await admin_for_viewing(
        ctx, company_id, identity.user_id, inst.is_admin
    )
    eng = engagement.get_settings(ctx.store, company_id)
    page = {
        "eng": eng,
        "switches": [(name, label, getattr(eng, name)) for name, label in SWITCH_LABELS.items()],
        "is_admin": is_admin,
        "notice": notice,
        "events": engagement.count_events(ctx.store, company_id),
    }
    return templates.TemplateResponse(request, "partials/engagement_card.html", page)


@requires_identity
async def engagement_card(request: Request, identity: Identity) -> Response:
    return await _card(request, identity)


@requires_admin
async def engagement_save(request: Request, identity: Identity) -> Response:
    form = await request.form()
    switches = {name: form.get(name) in ("1", "on", "true") for name in SWITCH_LABELS}
    engagement.save_switches(app_context(request).store, identity.company_id, switches)
    return await _card(request, identity, notice="Engagement settings saved.")
