"""Company configuration against the two APIs: the Newsletter person field (F6), Maileon custom
fields, and the Pipedrive webhooks that follow the sync switches (F5). Idempotent: everything is
looked up before it is created, and one configuration runs at a time per company."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from clients.errors import ApiError, Forbidden, PermanentError
from clients.pipedrive import PipedriveClient
from store import tenants
from store.tenants import Settings
from sync.engine.context import Context
from sync.engine.schedule import ensure_periodic
from sync.persons.contacts import ensure_maileon_fields
from sync.persons.fields import person_fields
from sync.persons.newsletter import NEWSLETTER, NEWSLETTER_OPTIONS
from sync.syncback import events as syncback
from sync.wording import plural

log = logging.getLogger("pipedrive_maileon.setup")

ACTIONS = ("create", "change", "delete")


def pipedrive_webhook_url(ctx: Context) -> str:
    return f"{ctx.config.app_url}/webhooks/pipedrive"


async def configure(ctx: Context, company_id: int) -> list[str]:
    """Bring Pipedrive and Maileon in line with the saved settings. Returns notes for the user."""
    async with ctx.company_lock(company_id, "configure"):
        settings = tenants.ensure_webhook_credentials(ctx.store, company_id)
        ensure_periodic(ctx.store, ctx.config.periodic_scale, company_id)
        notes: list[str] = []
        pipedrive = ctx.pipedrive(company_id)
        await ensure_newsletter_field(ctx, pipedrive, settings)
        settings = tenants.get_settings(ctx.store, company_id)
        if settings.configured:
            fields = await person_fields(ctx, company_id)
            await ensure_maileon_fields(ctx, ctx.maileon(company_id), settings, fields)
        notes += await sync_webhooks(ctx, pipedrive, settings)
        if settings.configured:  # F10: Maileon webhooks for unsubscribes / DOI confirmations
            notes += await syncback.setup_maileon(ctx, settings)
        return notes


async def ensure_newsletter_field(
    ctx: Context, pipedrive: PipedriveClient, settings: Settings
) -> None:
    fields = await person_fields(ctx, settings.company_id, refresh=True)
    field = next((f for f in fields.values() if f.name == NEWSLETTER and f.custom), None)
    if field is None:
        try:
            raw = await pipedrive.add_person_field(NEWSLETTER, "enum", list(NEWSLETTER_OPTIONS))
        except Forbidden:
            raise PermanentError(
                "only a Pipedrive admin can create the Newsletter field; "
                "please save the settings as an admin"
            ) from None
        fields = await person_fields(ctx, settings.company_id, refresh=True)
        field = fields.get(str(raw.get("key") or raw.get("field_code")))
        if field is None:
            raise PermanentError("Pipedrive did not return the new Newsletter field")
    options = {label: oid for oid, label in field.options.items() if label in NEWSLETTER_OPTIONS}
    tenants.update_settings(
        ctx.store, settings.company_id, newsletter_field_key=field.key, newsletter_options=options
    )


def wanted_webhooks(settings: Settings) -> set[tuple[str, str]]:
    wanted = set()
    if settings.contacts_sync:
        wanted |= {("person", a) for a in ACTIONS}
    if settings.deals_sync:
        wanted |= {("deal", a) for a in ACTIONS}
    return wanted


async def sync_webhooks(ctx: Context, pipedrive: PipedriveClient, settings: Settings) -> list[str]:
    """Create the wanted webhooks that are missing, delete ours that are no longer wanted."""
    url = pipedrive_webhook_url(ctx)
    ours = [w for w in await pipedrive.list_webhooks() if w.get("subscription_url") == url]
    have: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for hook in ours:
        if hook.get("http_auth_user") not in (None, "", settings.webhook_user):
            await pipedrive.delete_webhook(int(hook["id"]))  # left from an earlier install
            continue
        have[(str(hook.get("event_object")), str(hook.get("event_action")))].append(hook)
    wanted = wanted_webhooks(settings)
    inst = tenants.working_installation(ctx.store, settings.company_id)
    notes: list[str] = []
    removed = 0
    for key, hooks in have.items():
        stale = hooks if key not in wanted else hooks[1:]  # never keep duplicates
        for hook in stale:
            await pipedrive.delete_webhook(int(hook["id"]))
        removed += key not in wanted
    created = 0
    for event_object, action in sorted(wanted - have.keys()):
        try:
            await pipedrive.add_webhook(
                {
                    "subscription_url": url,
                    "event_object": event_object,
                    "event_action": action,
                    "version": "2.0",
                    "name": f"Maileon sync: {event_object} {action}",
                    "http_auth_user": settings.webhook_user,
                    "http_auth_password": settings.webhook_password,
                    "user_id": inst.user_id if inst else None,
                }
            )
            created += 1
        except ApiError as exc:
            raise PermanentError(webhook_error(exc)) from None
    if created:
        notes.append(plural(created, "Pipedrive webhook") + " registered")
    if removed:
        notes.append(plural(removed, "Pipedrive webhook") + " removed")
    if created or removed:  # what is in place now, not only what this save changed
        notes.append(
            f"{plural(len(wanted), 'Pipedrive webhook')} in place"
            if wanted
            else "no Pipedrive webhook in place (sync is off)"
        )
    return notes


def webhook_error(exc: ApiError) -> str:
    if exc.status == 422:
        return (
            "Pipedrive refused another webhook: this user has reached Pipedrive's limit of "
            "40 webhooks. Remove unused webhooks or apps and save again."
        )
    if exc.status == 403:
        return "Pipedrive allows only admins to register webhooks; please save as an admin."
    return f"Pipedrive did not accept the webhook registration: {exc.message}"


KEY_MESSAGES = {
    401: "The Maileon API key is invalid or has expired. Create a new key in Maileon "
    "(Settings → API keys) and paste it here.",
    403: "The Maileon API key lacks privileges this app needs",
}


async def check_doi_mailing(ctx: Context, api_key: str, doi_key: str) -> str:
    """Empty unless Maileon says no DOI mailing has this key (a DOI mail would never go out).
    When Maileon cannot tell (too many mailings, an unexpected answer, an error) the key is
    accepted: the health card names contacts left pending for 48 hours anyway."""
    try:
        found = await ctx.maileon(0, api_key=api_key).has_doi_mailing(doi_key)
    except ApiError as exc:
        log.warning("the DOI mailing ID could not be checked: %s", exc.message)
        return ""
    if found is False:
        return (
            f"No DOI mailing of this Maileon account has the DOI key {doi_key!r}. Copy the "
            "key from the DOI mailing's settings in Maileon."
        )
    return ""


async def check_maileon_key(ctx: Context, api_key: str) -> str:
    """Empty when the key works for GET, POST, PUT and DELETE; else a plain-words reason."""
    maileon = ctx.maileon(0, api_key=api_key)
    missing = []
    for method in ("GET", "POST", "PUT", "DELETE"):
        try:
            await maileon.ping(method)
        except ApiError as exc:
            if exc.status == 401:
                return KEY_MESSAGES[401]
            if exc.status == 403:
                missing.append(method)
                continue
            if exc.status == 0 or exc.status >= 500:
                return (
                    "Maileon could not be reached to check the key. Nothing was saved; "
                    "please try again in a moment."
                )
            return f"Maileon did not accept the key check: {exc.message}"
    if missing:
        return (
            f"{KEY_MESSAGES[403]} ({', '.join(missing)}). Edit the key's privileges in "
            "Maileon or create a key with GET, POST, PUT and DELETE allowed."
        )
    return ""
