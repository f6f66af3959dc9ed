"""The "Which persons go to Maileon" card of the settings (F14): choose the sync rules, preview
their effect, apply them with progress (resumable), or discard the preview.

Everyone who can see the settings sees the card; only admins preview, apply, cancel or resume
(Cancel and Resume are the runs' own, web/run_progress.py, as for the import). The card loads
itself into the settings page and polls (every second) while a run works; its words are
web/run_words.py's.

Owners to choose from: the Pipedrive users who installed the app (their names are known), the
owners met while the last preview read the persons, and any user ids typed in. Listing all
users (`GET /v1/users`) needs the `users:read` scope, which the app does not ask for.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.errors import ApiError
from store import rules as stored
from store import runs, tenants
from sync.engine.context import Context
from sync.persons.fields import person_fields
from sync.rules.decide import (
    MAX_CHOICES,
    MAX_VALUE,
    MODES,
    ON_STOP,
    SyncRules,
    describe,
    label_field,
)
from sync.rules.gate import active_rules, names_for
from sync.webhook.parse import parse_id
from web.admin_rights import admin_for_viewing
from web.auth import Identity, requires_admin, requires_identity
from web.run_progress import controls, run_progress
from web.run_words import applied_text, preview_text
from web.state import app_context, app_worker
from web.templating import templates

MAX_OWNER_TEXT = 1000
SEPARATORS = re.compile(r"[\s,;]+")


def run_view(ctx: Context, company_id: int) -> dict[str, Any] | None:
    """What the card shows about the latest sync-rules run."""
    run = runs.latest(ctx.store, stored.TABLE, company_id)
    if run is None:
        return None
    rules = SyncRules.from_json(run["rules"])
    removing = rules.on_stop == "remove"
    return {
        **run,
        **run_progress(ctx.store, stored.TABLE, run, run["read"], run["total"]),
        "rules": rules,
        "preview_text": preview_text(run, removing),
        "applied_text": applied_text(run, removing),
    }


async def card_context(
    ctx: Context,
    identity: Identity,
    *,
    proposed: SyncRules | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    company_id = identity.company_id
    inst = tenants.get_installation(ctx.store, company_id, identity.user_id)
    settings = tenants.get_settings(ctx.store, company_id)
    run = run_view(ctx, company_id)
    fields_error = ""
    try:
        fields = await person_fields(ctx, company_id)
    except ApiError as exc:
        fields, fields_error = {}, f"Pipedrive's person fields could not be loaded: {exc.message}"
    names = names_for(ctx.store, company_id, fields)
    active = active_rules(ctx.store, company_id)
    if proposed is None:
        proposed = run["rules"] if run and run["state"] in ("previewing", "previewed") else active
    owners = set(names.users) | set(stored.owners_seen(run))
    owners |= set(active.owners) | set(proposed.owners)
    labels = label_field(fields)
    return {
        "settings": settings,
        "run": run,
        "is_admin": inst is not None
        and await admin_for_viewing(ctx, company_id, identity.user_id, inst.is_admin),
        "active_text": describe(active, names),
        "active": active,
        "proposed": proposed,
        "proposed_text": describe(proposed, names),
        "label_options": sorted(
            (labels.options if labels else {}).items(), key=lambda kv: kv[1].lower()
        ),
        "owner_options": sorted(((i, names.user(i)) for i in owners), key=lambda kv: kv[1].lower()),
        "rule_fields": sorted(
            (
                f
                for f in fields.values()
                if f.custom or f.key in ("name", "first_name", "last_name")
            ),
            key=lambda f: f.name.lower(),
        ),
        "rules_errors": errors or {},
        "rules_notice": notice,
        "fields_error": fields_error,
    }


async def _card(request: Request, identity: Identity, status: int = 200, **extra: Any) -> Response:
    if not request.headers.get("hx-request"):
        return RedirectResponse("/settings", status_code=303)
    page = await card_context(app_context(request), identity, **extra)
    return templates.TemplateResponse(request, "partials/sync_rules.html", page, status_code=status)


@requires_identity
async def rules_card(request: Request, identity: Identity) -> Response:
    return await _card(request, identity)


@requires_admin
async def rules_preview(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    proposed, errors = await parse_form(ctx, identity.company_id, await request.form())
    if errors:
        return await _card(request, identity, 422, proposed=proposed, errors=errors)
    _, started = stored.start_preview(
        ctx.store, identity.company_id, identity.user_id, proposed.to_json()
    )
    app_worker(request).wake()
    return await _card(
        request,
        identity,
        notice=""
        if started
        else "Rules are being applied right now; preview again when that is done.",
    )


@requires_admin
async def rules_apply(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    if not tenants.get_settings(ctx.store, identity.company_id).configured:
        return await _card(
            request, identity, 422, notice="Enter a Maileon API key before applying sync rules."
        )
    form = await request.form()
    run_id = parse_id(str(form.get("run_id", "")))
    removals = _removals(ctx, identity.company_id, run_id)
    if removals and str(form.get("confirm_remove", "")) != str(removals):
        return await _card(
            request,
            identity,
            422,
            notice=f"Nothing was applied: confirm that {removals:,} "
            f"{'contact is' if removals == 1 else 'contacts are'} removed from Maileon.",
        )
    if run_id is None or not stored.apply(ctx.store, identity.company_id, run_id):
        return await _card(
            request,
            identity,
            409,
            notice="That preview is no longer current; preview the rules again.",
        )
    app_worker(request).wake()
    return await _card(request, identity)


def _removals(ctx: Context, company_id: int, run_id: int | None) -> int:
    """How many contacts applying this preview removes from Maileon (0: nothing to confirm)."""
    run = runs.get(ctx.store, stored.TABLE, company_id, run_id) if run_id is not None else None
    if run is None or run["state"] != "previewed":
        return 0
    if SyncRules.from_json(run["rules"]).on_stop != "remove":
        return 0
    if not tenants.get_settings(ctx.store, company_id).contacts_sync:
        return 0
    return int(run["to_remove"] or 0)


async def _notice_card(request: Request, identity: Identity, notice: str) -> Response:
    return await _card(request, identity, notice=notice)


rules_cancel, rules_resume = controls(
    stored.TABLE, _notice_card, "Nothing to cancel.", "Nothing to resume."
)


async def parse_form(
    ctx: Context, company_id: int, form: FormData
) -> tuple[SyncRules, dict[str, str]]:
    """The proposed rules from the form, every value bounded and checked against Pipedrive's
    labels and person fields."""
    errors: dict[str, str] = {}
    mode, on_stop = _choices(form, errors)
    labels = _ids(form.getlist("labels")[:MAX_CHOICES])
    owners = _owners(form, errors)
    field_key = str(form.get("field_key", "")).strip()[:64]
    field_value = str(form.get("field_value", "")).strip()
    if len(field_value) > MAX_VALUE:
        errors["field"] = f"The field value can have at most {MAX_VALUE} characters."
        field_value = field_value[:MAX_VALUE]
    if mode == "rules":
        await _check_rules(ctx, company_id, labels, owners, field_key, field_value, errors)
    else:
        labels, owners, field_key, field_value = (), (), "", ""
    if not field_key:
        field_value = ""
    return SyncRules(
        mode=mode,
        labels=labels,
        owners=owners,
        field_key=field_key,
        field_value=field_value,
        on_stop=on_stop,
    ), errors


def _choices(form: FormData, errors: dict[str, str]) -> tuple[str, str]:
    """The mode and what happens to contacts that stop matching."""
    mode = str(form.get("mode", ""))
    if mode not in MODES:
        errors["mode"] = "Choose which persons go to Maileon."
        mode = "all"
    on_stop = str(form.get("on_stop", "keep"))
    if on_stop not in ON_STOP:
        errors["on_stop"] = "Choose what happens to contacts of persons that stop matching."
        on_stop = "keep"
    if mode == "all":  # nobody stops matching: a removal chosen for other rules is dropped
        on_stop = "keep"
    return mode, on_stop


def _owners(form: FormData, errors: dict[str, str]) -> tuple[int, ...]:
    """The owners ticked plus those typed as ids."""
    owners = _ids(form.getlist("owners")[:MAX_CHOICES])
    typed = str(form.get("other_owners", ""))
    if len(typed) > MAX_OWNER_TEXT:
        errors["owners"] = "Too many user ids."
        return owners
    parts = [p for p in SEPARATORS.split(typed) if p]
    extra = _ids(parts[:MAX_CHOICES])
    if any(parse_id(p) is None for p in parts) or len(parts) > MAX_CHOICES:
        errors["owners"] = "Other owners: type Pipedrive user ids (numbers), comma-separated."
    return tuple(sorted(set(owners) | set(extra)))[:MAX_CHOICES]


async def _check_rules(
    ctx: Context,
    company_id: int,
    labels: tuple[int, ...],
    owners: tuple[int, ...],
    field_key: str,
    field_value: str,
    errors: dict[str, str],
) -> None:
    """The chosen labels and field against Pipedrive's; at least one rule."""
    try:
        fields = await person_fields(ctx, company_id)
    except ApiError as exc:
        fields = {}
        errors["_rules"] = f"Pipedrive's person fields could not be loaded: {exc.message}"
    known = label_field(fields)
    loaded = "_rules" not in errors
    if labels and loaded and (known is None or not set(labels) <= set(known.options)):
        errors["labels"] = "A chosen label no longer exists in Pipedrive."
    if field_key and field_key not in fields and loaded:
        errors["field"] = "The chosen person field no longer exists in Pipedrive."
    elif field_key and not field_value:
        errors["field"] = "Type the value the field must have."
    if not (labels or owners or field_key) and loaded:
        errors["_rules"] = "Choose at least one rule: a label, an owner or a field value."


def _ids(values: list[Any]) -> tuple[int, ...]:
    out = {parse_id(str(v).strip()) for v in values}
    return tuple(sorted(i for i in out if i is not None))
