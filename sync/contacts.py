"""Person → Maileon contact (F7) and the Newsletter subscription rules (F8).

Rules, in order: contacts sync must be on; an older change never overwrites a newer one; a
person without a valid email is skipped with a reason; data updates never touch a contact's
permission; only a change of the Newsletter field *to* Subscribed subscribes (DOI when on);
Unsubscribed unsubscribes; an unsubscribe that came from Maileon is never undone by later edits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from clients.errors import ApiError, NotFound, PermanentError
from clients.maileon import MaileonClient
from store import people, tenants
from store.db import now
from store.people import PersonState
from store.queue import Job
from store.tenants import Settings
from sync import rules_gate
from sync.context import Context
from sync.fields import CREATED_BY, PersonField, maileon_value, person_fields, plain_value
from sync.intake import normalize_time
from sync.organizations import organization_names
from sync.outcome import Outcome
from sync.persons import Person, from_pipedrive, plausible_email

MAILEON_FIELDS_TTL = 600.0
SUBSCRIBED, PENDING, UNSUBSCRIBED = "Subscribed", "Pending confirmation", "Unsubscribed"


async def handle_person(ctx: Context, job: Job) -> Outcome:
    settings = tenants.get_settings(ctx.store, job.company_id)
    if not settings.contacts_sync:
        return Outcome.skipped("Contacts sync to Maileon is off")
    if not settings.configured:
        return Outcome.skipped("no Maileon API key is set")
    async with ctx.person_lock(job.company_id, int(job.entity_id)):
        return await _handle_person(ctx, job, settings)


async def _handle_person(ctx: Context, job: Job, settings: Settings) -> Outcome:
    state = people.get(ctx.store, job.company_id, int(job.entity_id))
    if job.payload.get("action") == "delete":
        return await _delete(ctx, job, settings, state)
    data = job.payload.get("data")
    if not isinstance(data, dict):
        return Outcome.skipped("the webhook carried no person data")
    person = from_pipedrive({**data, "id": int(job.entity_id)})  # the validated id
    if state.last_update_time and person.update_time and \
            person.update_time < state.last_update_time:
        return Outcome.skipped("an older change arrived after a newer one and was ignored")
    left_out = await rules_gate.admit(ctx, settings, state, person)  # sync rules (F14)
    if left_out is not None:
        return left_out
    return await apply_person(ctx, settings, state, person)


async def apply_person(ctx: Context, settings: Settings, state: PersonState,
                       person: Person) -> Outcome:
    company_id = settings.company_id
    fields = await person_fields(ctx, company_id)
    label = newsletter_label(person, settings, fields)
    state.last_update_time = max(state.last_update_time, person.update_time)
    if not person.email or not plausible_email(person.email):
        state.newsletter = label or state.newsletter
        reason = ("the person has no email address" if not person.email
                  else f"the email address {person.email!r} is not valid")
        state.last_error = reason
        people.save(ctx.store, state)
        return Outcome.skipped(f"{person_label(person)}: {reason}")

    maileon = ctx.maileon(company_id)
    standard, custom = await prepare_contact(ctx, maileon, settings, person, fields)
    fingerprint = data_fingerprint(person.email, standard, custom)
    changed_to = label if label != state.newsletter else ""
    old_email = "" if state.deleted else state.email
    state.deleted = False

    try:
        if changed_to == UNSUBSCRIBED:
            message = await unsubscribe_contact(maileon, state, old_email or person.email)
        elif changed_to == SUBSCRIBED:
            message = await subscribe_contact(maileon, settings, state, old_email, person,
                                              standard, custom)
        elif fingerprint == state.data_hash and old_email == person.email:
            state.newsletter = label
            people.save(ctx.store, state)
            return Outcome.quiet(f"{person_label(person)}: nothing to change in Maileon")
        else:
            message = await _update_data(maileon, state, old_email, person, standard, custom)
    except PermanentError as exc:
        if exc.status != 400 or "email" not in exc.message.lower():
            raise
        state.last_error = f"Maileon rejected the address {person.email!r}"
        people.save(ctx.store, state)
        return Outcome.skipped(f"{person_label(person)}: {state.last_error} ({exc.message})")
        if message.startswith("skipped:"):
            state.email = person.email
            state.newsletter = label
            people.save(ctx.store, state)
            return Outcome.skipped(f"{person_label(person)}: {message[8:].strip()}")
    state.email = person.email
    state.newsletter = label
    state.data_hash = fingerprint if state.maileon_state != "unsubscribed" else ""
    people.touch_synced(state)
    people.save(ctx.store, state)
    await write_back_pending(ctx, settings, state, label)
    return Outcome.ok(f"{person_label(person)}: {message}")


async def _update_data(maileon: MaileonClient, state: PersonState, old_email: str,
                       person: Person, standard: dict[str, str],
                       custom: dict[str, Any]) -> str:
    """Data-only sync: update the existing contact, or create it without permission."""
    if state.maileon_state:
        try:
            renamed = old_email and old_email.lower() != person.email.lower()
            await maileon.update_contact(
                old_email or person.email, external_id=str(person.id),
                standard_fields=standard, custom_fields=custom,
                new_email=person.email if renamed else None)
            return "email address changed in Maileon" if renamed else "updated in Maileon"
        except NotFound:
            if state.maileon_state == "unsubscribed":
                return "skipped: the contact unsubscribed in Maileon; its data is not re-created"
        except ApiError as exc:
            if exc.status != 409:
                raise
            await maileon.delete_contact(old_email)  # the new address exists already
    await maileon.upsert_contact(person.email, permission=1, external_id=str(person.id),
                                 standard_fields=standard, custom_fields=custom)
    if not state.maileon_state:
        state.maileon_state = "none"
    return "created in Maileon without permission (Newsletter is not Subscribed)" \
        if state.maileon_state == "none" else "re-created in Maileon"


async def _move_if_renamed(maileon: MaileonClient, old_email: str, person: Person,
                           standard: dict[str, str], custom: dict[str, Any]) -> None:
    if old_email and old_email.lower() != person.email.lower():
        try:
            await maileon.update_contact(old_email, external_id=str(person.id),
                                         standard_fields=standard, custom_fields=custom,
                                         new_email=person.email)
        except NotFound:
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
            await maileon.delete_contact(old_email)


async def prepare_contact(ctx: Context, maileon: MaileonClient, settings: Settings,
                          person: Person, fields: dict[str, PersonField]
                          ) -> tuple[dict[str, str], dict[str, Any]]:
    """The contact's Maileon fields; missing custom fields are created in Maileon first."""
    await ensure_maileon_fields(ctx, maileon, settings, fields)
    if person.org_id and not person.org_name:
        person.org_name = (await organization_names(ctx, settings.company_id, {person.org_id})
                           ).get(person.org_id, "")
    return contact_fields(person, settings, fields)


async def subscribe_contact(maileon: MaileonClient, settings: Settings, state: PersonState,
                            old_email: str, person: Person, standard: dict[str, str],
                            custom: dict[str, Any]) -> str:
    """Give the contact permission: DOI when on (pending until confirmed), else the initial
    permission."""
    await _move_if_renamed(maileon, old_email, person, standard, custom)
    doi = settings.doi_enabled
    await maileon.upsert_contact(
        person.email, permission=1 if doi else settings.initial_permission,
        external_id=str(person.id), standard_fields=standard, custom_fields=custom,
        doi=doi, doiplus=doi and settings.initial_permission == 5,
        doimailing=settings.doi_mailing_key)
    state.maileon_state = "pending" if doi else "subscribed"
    return "double opt-in started" if doi else "subscribed with permission " \
        f"{settings.initial_permission}"


async def unsubscribe_contact(maileon: MaileonClient, state: PersonState, email: str) -> str:
    await maileon.unsubscribe(email)
    state.maileon_state = "unsubscribed"
    return "unsubscribed in Maileon"


async def newsletter_action(ctx: Context, settings: Settings, state: PersonState,
                            person: Person, subscribe: bool) -> str:
    """An explicit Subscribe / Unsubscribe by a Pipedrive user (the Newsletter panel, F11).

    The same Maileon calls as a change of the Newsletter field, then the field is written in
    Pipedrive (Pending confirmation while DOI runs). Being an explicit user action, Subscribe
    may re-subscribe a contact that unsubscribed. The new value is recorded before the field is
    written, so the webhook echo of that write finds nothing to do; when the write fails the
    Maileon change stays recorded and the error is raised to the caller.
    """
    if not person.email or not plausible_email(person.email):
        raise PermanentError("the person has no valid email address")
    company_id = settings.company_id
    maileon = ctx.maileon(company_id)
    old_email = "" if state.deleted else state.email
    if subscribe:
        fields = await person_fields(ctx, company_id)
        standard, custom = await prepare_contact(ctx, maileon, settings, person, fields)
        message = await subscribe_contact(maileon, settings, state, old_email, person,
                                          standard, custom)
        value = PENDING if state.maileon_state == "pending" else SUBSCRIBED
        state.data_hash = data_fingerprint(person.email, standard, custom)
    else:
        message = await unsubscribe_contact(maileon, state, old_email or person.email)
        value = UNSUBSCRIBED
        state.data_hash = ""
    state.deleted = False
    state.email = person.email
    state.newsletter = value
    people.touch_synced(state)
    people.save(ctx.store, state)
    await set_newsletter(ctx, settings, state, value)
    return message


async def _delete(ctx: Context, job: Job, settings: Settings, state: PersonState) -> Outcome:
    email = state.email
    if not email or state.deleted:
        previous = job.payload.get("previous") or {}
        email = email or from_pipedrive({**previous, "id": job.entity_id}).email
    if not email:
        return Outcome.skipped(f"person {job.entity_id} deleted; it had no Maileon contact")
    survivor_id = job.payload.get("merged_to_id")
    if survivor_id:
        survivor = await ctx.pipedrive(job.company_id).get_person(int(survivor_id))
        if survivor and from_pipedrive(survivor).email.lower() == email.lower():
            _mark_deleted(ctx, state)
            return Outcome.ok(f"person {job.entity_id} merged into {survivor_id}; "
                              "the contact now belongs to the surviving person")
    if people.others_with_email(ctx.store, job.company_id, state.person_id, email):
        _mark_deleted(ctx, state)
        return Outcome.skipped(f"person {job.entity_id} deleted; its address is still used by "
                               "another person, so the contact was kept")
    await ctx.maileon(job.company_id).delete_contact(email)
    _mark_deleted(ctx, state)
    verb = "merged away" if survivor_id else "deleted"
    return Outcome.ok(f"person {job.entity_id} {verb}: contact removed from Maileon")


def _mark_deleted(ctx: Context, state: PersonState) -> None:
    state.deleted = True
    people.touch_synced(state)
    people.save(ctx.store, state)


def newsletter_label(person: Person, settings: Settings, fields: dict[str, PersonField]) -> str:
    key = settings.newsletter_field_key
    if not key or key not in person.custom:
        return ""
    value = plain_value(person.custom.get(key), fields.get(key))
    if value in (None, ""):
        return ""
    by_id = {v: k for k, v in settings.newsletter_options.items()}
    try:
        return by_id.get(int(value), "")
    except (TypeError, ValueError):
        return str(value) if str(value) in settings.newsletter_options else ""


def contact_fields(person: Person, settings: Settings, fields: dict[str, PersonField]
                   ) -> tuple[dict[str, str], dict[str, Any]]:
    full = person.name or f"{person.first_name} {person.last_name}".strip()
    standard = {"FIRSTNAME": person.first_name[:255], "LASTNAME": person.last_name[:255],
                "FULLNAME": full[:255], "ORGANIZATION": person.org_name[:255]}
    custom: dict[str, Any] = {CREATED_BY: True}
    for key in settings.custom_fields:
        field = fields.get(key)
        if key and field is not None and key in person.custom:
            custom[field.name] = maileon_value(plain_value(person.custom[key], field), field)
    return standard, custom


def data_fingerprint(email: str, standard: dict[str, str], custom: dict[str, Any]) -> str:
    blob = json.dumps([email.lower(), standard, custom], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


async def ensure_maileon_fields(ctx: Context, maileon: MaileonClient, settings: Settings,
                                fields: dict[str, PersonField]) -> None:
    """createdByPipedrive and the mapped fields exist in Maileon with matching types."""
    wanted = {CREATED_BY: "boolean"}
    for key in settings.custom_fields:
        if key in fields:
            wanted[fields[key].name] = fields[key].maileon_type
    known = ctx.cached(settings.company_id, "maileon_fields", MAILEON_FIELDS_TTL)
    if isinstance(known, set) and set(wanted) <= known:
        return
    async with ctx.company_lock(settings.company_id, "maileon_fields"):
        known = ctx.cached(settings.company_id, "maileon_fields", MAILEON_FIELDS_TTL)
        if isinstance(known, set) and set(wanted) <= known:
            return  # filled by the job we waited for
        existing = await maileon.custom_fields()
        for name, kind in wanted.items():
            if name not in existing:
                await maileon.create_custom_field(name, kind)
        ctx.remember(settings.company_id, "maileon_fields", set(existing) | set(wanted),
                     MAILEON_FIELDS_TTL)


async def write_back_pending(ctx: Context, settings: Settings, state: PersonState,
                             label: str) -> None:
    """After starting DOI, show 'Pending confirmation' on the person (once)."""
    if state.maileon_state == "pending" and label == SUBSCRIBED:
        await set_newsletter(ctx, settings, state, PENDING)


async def set_newsletter(ctx: Context, settings: Settings, state: PersonState,
                         value: str) -> None:
    """Write the Newsletter field in Pipedrive and remember it, so its echo is a no-op."""
    option = settings.newsletter_options.get(value)
    if not settings.newsletter_field_key or option is None:
        return
    updated = await ctx.pipedrive(settings.company_id).patch_person(
        state.person_id, {"custom_fields": {settings.newsletter_field_key: option}})
    state.newsletter = value
    state.written_newsletter = value
    state.written_at = now()
    state.last_update_time = max(state.last_update_time,
                                 normalize_time((updated or {}).get("update_time")))
    people.save(ctx.store, state)


def person_label(person: Person) -> str:
    name = person.name or f"{person.first_name} {person.last_name}".strip() or "person"
    return f"{name} (#{person.id})"

