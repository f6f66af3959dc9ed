"""The settings page (F4) with sync health (F13): standalone with a session cookie, or inside
Pipedrive as custom UI with the JWT. Only admins save; everyone else sees it read-only."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from clients.digits import ascii_int
from clients.errors import ApiError
from clients.maileon import PERMISSIONS
from store import queue, tenants
from sync.configure import check_doi_mailing, check_maileon_key, configure
from sync.engine.context import Context
from sync.persons import field_mapping as sync_mapping
from sync.persons.fields import known_person_fields, person_fields
from sync.webhook.parse import parse_id
from web import field_mapping
from web.admin_rights import admin_for_viewing
from web.auth import Identity, requires_admin, requires_identity
from web.errors import HTTPProblem
from web.health_view import KEY_STATUS, health
from web.imports import import_view
from web.state import app_context, app_worker
from web.templating import templates

# Maileon's documented key length (Settings → API keys); longer input is not echoed back.
MIN_KEY, MAX_KEY = 12, 265
MAX_ECHOED_KEY = 1000


async def _page_context(request: Request, identity: Identity, **extra: Any) -> dict[str, Any]:
    ctx = app_context(request)
    company_id = identity.company_id
    settings = tenants.get_settings(ctx.store, company_id)
    inst = tenants.get_installation(ctx.store, company_id, identity.user_id)
    company = tenants.company(ctx.store, company_id) or {}
    fields: dict[str, Any] = {}
    fields_error = ""
    try:
        # read afresh: a field the admin just added in Pipedrive is offered at once, and one
        # deleted shows in the health card (which, polled, reads the ten-minute copy)
        fields = await person_fields(ctx, company_id, refresh=True)
    except ApiError as exc:  # the copy read lately, if any, still shows the mappings
        known = known_person_fields(ctx, company_id)
        fields = known or {}
        if known is None:
            fields_error = f"Pipedrive's person fields could not be loaded: {exc.message}"
    is_admin = inst is not None and await admin_for_viewing(
        ctx, company_id, identity.user_id, inst.is_admin
    )
    page = {
        "settings": settings,
        "company": company,
        "is_admin": is_admin,
        "user_name": inst.user_name if inst else "",
        "permissions": PERMISSIONS,
        "source_fields": sync_mapping.source_fields(fields),
        "builtins": sync_mapping.BUILTINS,
        "standard_choices": field_mapping.standard_choices(),
        "field_rows": field_mapping.form_rows(settings, fields),
        "resend_slots": [],
        "fields_error": fields_error,
        "errors": {},
        "notice": "",
        "typed_key": "",
        "embedded": identity.via == "jwt",
        "hx_token": identity.token if identity.via == "jwt" else "",
        "theme": request.query_params.get("theme", "light"),
        "key_status_text": KEY_STATUS.get(settings.maileon_key_status, ""),
        "imp": import_view(ctx.store, company_id),
    }
    page.update(await health(ctx, company_id, request.query_params.get("log") == "failed"))
    page.update(extra)
    return page


async def _render(request: Request, identity: Identity, template: str) -> Response:
    page = await _page_context(request, identity)
    return templates.TemplateResponse(request, template, page)


@requires_identity
async def settings_page(request: Request, identity: Identity) -> Response:
    return await _render(request, identity, "settings.html")


async def _health(request: Request, identity: Identity) -> Response:
    """Only the sync health card (what the page polls): no Pipedrive calls for the form."""
    ctx = app_context(request)
    inst = tenants.get_installation(ctx.store, identity.company_id, identity.user_id)
    page: dict[str, Any] = {
        "is_admin": inst is not None
        and await admin_for_viewing(ctx, identity.company_id, identity.user_id, inst.is_admin)
    }
    page.update(await health(ctx, identity.company_id, request.query_params.get("log") == "failed"))
    # the card, and the status line at the top of the page (out of band)
    return templates.TemplateResponse(request, "partials/health_poll.html", page)


@requires_identity
async def health_partial(request: Request, identity: Identity) -> Response:
    return await _health(request, identity)


@requires_admin
async def save_settings(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    form = await request.form()
    company_id = identity.company_id
    current = tenants.get_settings(ctx.store, company_id)
    slots = field_mapping.from_form(form)
    if slots.edited:  # Add field / Remove: the form again with the slots edited, not saved
        page = await _page_context(
            request,
            identity,
            notice="Not saved yet: Save to keep the field mapping.",
            typed_key=str(form.get("maileon_api_key", "")).strip()[:MAX_ECHOED_KEY],
        )
        edited = {"custom_fields": slots.sources, "field_targets": slots.targets}
        _overlay(page, {**_plain_values(form), **edited})
        return _form_response(request, page)
    values, errors = await _validate(ctx, company_id, current, form)
    if errors:
        # The key just pasted goes back to the admin in this response only (never stored nor
        # logged), so a refused save does not make them paste it again.
        typed_key = str(form.get("maileon_api_key", "")).strip()[:MAX_ECHOED_KEY]
        page = await _page_context(request, identity, errors=errors, typed_key=typed_key)
        _overlay(page, values)
        return _form_response(request, page, status=422)
    # a changed mapping of a company already syncing: offer to re-send it (F16)
    resend = (
        field_mapping.changed_slots(current, values["custom_fields"], values["field_targets"])
        if current.configured
        else []
    )
    values["sync_user_id"] = identity.user_id
    tenants.update_settings(ctx.store, company_id, **values)
    ctx.forget(company_id)
    if "maileon_api_key" in values:  # a valid key: what failed for the old one goes again
        ctx.key_problems.discard(company_id)
        if queue.retry_failed(ctx.store, company_id, cause="maileon_key"):
            app_worker(request).wake()
    notice = "Settings saved."
    try:
        notes = await configure(ctx, company_id)
        if notes:
            notice += " " + "; ".join(notes) + "."
    except ApiError as exc:
        page = await _page_context(
            request,
            identity,
            errors={"_form": f"Settings saved, but setup is incomplete: {exc.message}"},
        )
        return _form_response(request, page, status=200)
    page = await _page_context(request, identity, notice=notice, resend_slots=resend)
    response = _form_response(request, page)
    response.headers["HX-Trigger"] = "settings-saved"
    return response


def _form_response(request: Request, page: dict[str, Any], status: int = 200) -> Response:
    name = "partials/settings_form.html" if request.headers.get("hx-request") else "settings.html"
    return templates.TemplateResponse(request, name, page, status_code=status)


def _overlay(page: dict[str, Any], values: dict[str, Any]) -> None:
    """Show what the admin typed (not what is stored) next to the validation messages."""
    settings = page["settings"]
    for key, value in values.items():
        if key != "maileon_api_key" and hasattr(settings, key):
            setattr(settings, key, value)
    page["field_rows"] = field_mapping.form_rows(settings, page["source_fields"])


def _plain_values(form: Any) -> dict[str, Any]:
    """The form's choices that need no check against Pipedrive or Maileon."""
    return {
        "initial_permission": ascii_int(str(form.get("initial_permission", "2")), 2) or 0,
        "doi_enabled": form.get("doi_enabled") in ("1", "on", "true"),
        "doi_mailing_key": str(form.get("doi_mailing_key", "")).strip()[:64],
        "doi_plus": form.get("doi_plus") in ("1", "on", "true"),
        "contacts_sync": form.get("contacts_sync") in ("1", "on", "true"),
        "deals_sync": form.get("deals_sync") in ("1", "on", "true"),
    }


async def _validate(
    ctx: Context, company_id: int, current: tenants.Settings, form: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = _plain_values(form)
    if values["initial_permission"] not in PERMISSIONS:
        errors["_form"] = "Choose an initial permission from the list."
    slots = field_mapping.from_form(form)
    values["custom_fields"] = slots.sources
    values["field_targets"] = slots.targets
    await _check_mappings(ctx, current, slots, errors)
    await _check_key(ctx, current, str(form.get("maileon_api_key", "")).strip(), values, errors)
    api_key = values.get("maileon_api_key") or current.maileon_api_key
    if values["doi_enabled"] and values["doi_mailing_key"] and api_key and not errors:
        problem = await check_doi_mailing(ctx, api_key, values["doi_mailing_key"])
        if problem:
            errors["doi_mailing_key"] = problem
    return values, errors


async def _check_mappings(
    ctx: Context, current: tenants.Settings, slots: field_mapping.Slots, errors: dict[str, str]
) -> None:
    """Each slot's Pipedrive source and Maileon target (F16), checked against the company's
    Pipedrive fields and its Maileon fields."""
    if not any(slots.sources):
        return
    mapped = replace(current, custom_fields=slots.sources, field_targets=slots.targets)
    try:
        fields = await person_fields(ctx, current.company_id)
        types = await field_mapping.maileon_field_types(ctx, current.company_id, current.configured)
    except ApiError as exc:
        errors["custom_fields"] = f"Pipedrive's fields could not be checked: {exc.message}"
        return
    problems = sync_mapping.problems(mapped, fields, types)
    if problems:
        errors["custom_fields"] = " ".join(problems)


async def _check_key(
    ctx: Context,
    current: tenants.Settings,
    key: str,
    values: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """A new Maileon API key, checked against Maileon once the rest of the form is valid."""
    if not key:
        if (values["contacts_sync"] or values["deals_sync"]) and not current.configured:
            errors["maileon_api_key"] = "Enter a Maileon API key before turning sync on."
        return
    if not MIN_KEY <= len(key) <= MAX_KEY:
        errors["maileon_api_key"] = (
            f"A Maileon API key has {MIN_KEY} to {MAX_KEY} characters; this one has {len(key)}."
        )
        return
    if errors:
        return
    problem = await check_maileon_key(ctx, key)
    if problem:
        errors["maileon_api_key"] = problem
    else:
        values["maileon_api_key"] = key
        values["maileon_key_status"] = "valid"


@requires_admin
async def retry(request: Request, identity: Identity) -> Response:
    ctx = app_context(request)
    form = await request.form()
    raw = str(form.get("job_id", "")).strip()
    job_id = parse_id(raw)
    if raw and job_id is None:
        raise HTTPProblem(400, "Nothing to retry", "That sync log entry does not exist.")
    queue.retry_failed(ctx.store, identity.company_id, job_id)
    app_worker(request).wake()
    return await _health(request, identity)


@requires_admin
async def try_now(request: Request, identity: Identity) -> Response:
    """The changes waiting for a retry (an outage, a rate limit) are tried at once."""
    ctx = app_context(request)
    queue.try_waiting_now(ctx.store, identity.company_id)
    app_worker(request).wake()
    return await _health(request, identity)
