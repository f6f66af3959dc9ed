"""The "Import existing contacts" card of the settings (F12): start, progress, cancel, resume.

Everyone who can see the settings sees the progress; only admins start, cancel or resume.
The card polls itself (every second) while an import runs. `import_view` is its view model
(the engine is sync/runs/import_run.py, the storage store/imports.py); Cancel and Resume are
the runs' own (web/run_progress.py), as for the sync-rules runs."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from store import imports, runs, tenants
from store.db import Store
from sync.engine.context import Context
from web.auth import Identity, requires_admin, requires_identity
from web.run_progress import controls, run_progress
from web.state import app_context, app_worker
from web.templating import templates


def import_view(store: Store, company_id: int) -> dict[str, Any] | None:
    """The latest import's progress, its skip reasons, and whether it waits or stopped."""
    row = runs.latest(store, imports.TABLE, company_id)
    if row is None:
        return None
    skipped = json.loads(row["skipped"] or "{}")
    total = row["total"]
    if total is not None:
        total = max(int(total), int(row["done"]))
    return {
        "id": row["id"],
        "state": row["state"],
        "phase": row["phase"],
        **run_progress(store, imports.TABLE, row, row["done"], total),
        "reading": row["phase"] == "reading",
        "read": row["counted"],
        "total": total,
        "done": row["done"],
        "imported": row["imported"],
        "skipped": sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])),
        "skipped_total": sum(skipped.values()),
        "include_deals": bool(row["include_deals"]),
        "resend": bool(row["resend"]),  # a re-send of mapped fields (F16)
        "deals_queued": row["deals_queued"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


def card_context(ctx: Context, identity: Identity, notice: str = "") -> dict[str, Any]:
    """What partials/import.html needs (also merged into the settings page)."""
    settings = tenants.get_settings(ctx.store, identity.company_id)
    inst = tenants.get_installation(ctx.store, identity.company_id, identity.user_id)
    return {
        "imp": import_view(ctx.store, identity.company_id),
        "settings": settings,
        "import_notice": notice,
        "is_admin": bool(inst and inst.is_admin),
    }


def _card(request: Request, identity: Identity, notice: str = "", status: int = 200) -> Response:
    if not request.headers.get("hx-request"):
        return RedirectResponse("/settings", status_code=303)
    ctx = app_context(request)
    return templates.TemplateResponse(
        request, "partials/import.html", card_context(ctx, identity, notice), status_code=status
    )


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
    resend = form.get("resend") == "1"  # a changed field mapping (F16): synced persons only
    _, started = imports.start(
        ctx.store, identity.company_id, identity.user_id, deals and not resend, resend
    )
    app_worker(request).wake()
    return _card(
        request, identity, "" if started else "An import is already running; this is its progress."
    )


async def _notice_card(request: Request, identity: Identity, notice: str) -> Response:
    return _card(request, identity, notice)


import_cancel, import_resume = controls(
    imports.TABLE, _notice_card, "No import is running.", "No import is running."
)
