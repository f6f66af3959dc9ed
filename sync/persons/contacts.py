"""Person → Maileon contact (F7) and the Newsletter subscription rules (F8).

Rules, in order: contacts sync must be on; an older change never overwrites a newer one; a
person without a valid email is skipped with a reason (needs attention when its Newsletter is
Subscribed); data updates never touch a contact's permission (PUT without one; a contact is
created, with permission NONE and createdByPipedrive, only when Maileon has none); only a
change of the Newsletter field *to* Subscribed subscribes, raising but never lowering the
permission (DOI when on; DOI/DOI+ contacts are subscribed at once); Unsubscribed unsubscribes;
an unsubscribe that came from Maileon is never undone by later edits.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from clients.errors import ApiError, NotFound, PermanentError, TransientError
from clients.maileon import PERMISSION_NONE, PERMISSIONS, MaileonClient
from store import people, tenants
from store.people import PersonState
from store.queue import Job
from store.tenants import Settings
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.persons import field_mapping
from sync.persons.fields import (
    CREATED_BY,
    PersonField,
    person_fields,
)
from sync.persons.newsletter import (
    PENDING,
    SUBSCRIBED,
    UNSUBSCRIBED,
    newsletter_label,
    set_newsletter,
    write_back_pending,
)
from sync.persons.organizations import organization_names
from sync.persons.ownership import KEPT, created_by_app, created_flag
from sync.persons.person import Person, from_pipedrive, person_label, plausible_email
from sync.rules import gate as rules_gate

log = logging.getLogger("pipedrive_maileon.contacts")
T = TypeVar("T")

MAILEON_FIELDS_TTL = 600.0


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
    if (
        state.last_update_time
        and person.update_time
        and person.update_time < state.last_update_time
    ):
        return Outcome.skipped("an older change arrived after a newer one and was ignored")
    left_out = await rules_gate.admit(ctx, settings, state, person)  # sync rules (F14)
    if left_out is not None:
        return left_out
    return await apply_person(ctx, settings, state, person)


async def apply_person(
    ctx: Context, settings: Settings, state: PersonState, person: Person
) -> Outcome:
    company_id = settings.company_id
    fields = await person_fields(ctx, company_id)
    label = newsletter_label(person, settings, fields)
    state.last_update_time = max(state.last_update_time, person.update_time)
    if not person.email or not plausible_email(person.email):
        state.newsletter = label or state.newsletter
        reason = (
            "the person has no email address"
            if not person.email
            else f"the email address {person.email!r} is not valid"
        )
        state.last_error = reason
        people.save(ctx.store, state)
        if label == SUBSCRIBED:  # someone wants this person mailed: a user must act
            return Outcome.attention(
                f"{person_label(person)}: Newsletter is Subscribed but "
                f"{reason}; nothing was sent to Maileon"
            )
        return Outcome.skipped(f"{person_label(person)}: {reason}")

    maileon = ctx.maileon(company_id)
    standard, custom = await prepare_contact(ctx, maileon, settings, person, fields)
    fingerprint = data_fingerprint(person.email, standard, custom)
    data = ContactData(person, standard, custom)
    changed_to = label if label != state.newsletter else ""
    old_email = "" if state.deleted else state.email
    state.deleted = False

    try:
        if changed_to == UNSUBSCRIBED:
            message = await unsubscribe_contact(maileon, state, old_email or person.email)
        elif changed_to == SUBSCRIBED:
            message = await subscribe_contact(maileon, settings, state, old_email, data)
        elif fingerprint == state.data_hash and old_email == person.email:
            state.newsletter = label
            people.save(ctx.store, state)
            return Outcome.quiet(f"{person_label(person)}: nothing to change in Maileon")
        else:
            message = await update_data(
                maileon,
                state,
                old_email,
                data,
                lambda contact: ctx.wait_for(
                    ctx.new_contacts.create(company_id, contact, ctx.slot)
                ),
            )
    except NotSynced as exc:
        state.email = person.email
        state.newsletter = label
        people.save(ctx.store, state)
        return Outcome.skipped(f"{person_label(person)}: {exc}")
    except PermanentError as exc:
        if exc.status != 400 or "email" not in exc.message.lower():
            raise
        state.last_error = f"Maileon rejected the address {person.email!r}"
        people.save(ctx.store, state)
        return Outcome.skipped(f"{person_label(person)}: {state.last_error} ({exc.message})")
    state.email = person.email
    state.newsletter = label
    # kept after an unsubscribe too: an echo of unchanged data is then no news (issue #26)
    state.data_hash = fingerprint
    people.touch_synced(state)
    people.save(ctx.store, state)
    await write_back_pending(ctx, settings, state, label)
    return Outcome.ok(f"{person_label(person)}: {message}{data.dropped_note()}")


class NotSynced(Exception):
    """The person is deliberately not written to Maileon; the message says why."""


@dataclass
class ContactData:
    """What is written to a person's contact; a field Maileon refuses is left out of it."""

    person: Person
    standard: dict[str, str]
    custom: dict[str, Any]
    dropped: list[str] = field(default_factory=list)

    async def write(self, call: Callable[[dict[str, str], dict[str, Any]], Awaitable[T]]) -> T:
        """Run a contact write; when Maileon refuses the value of one of the fields (400
        naming it), that field is left out for this person (logged) and the write repeated,
        so one bad value never loses the contact."""
        while True:
            try:
                return await call(self.standard, self.custom)
            except PermanentError as exc:
                name = refused_field(exc, [*self.standard, *self.custom])
                if name is None:
                    raise
                self.standard.pop(name, None)
                self.custom.pop(name, None)
                self.dropped.append(name)
                log.warning(
                    "Maileon refused field %s of person %s; left out: %s",
                    name,
                    self.person.id,
                    exc.message,
                )

    def dropped_note(self) -> str:
        return f"; Maileon refused {', '.join(self.dropped)}, left out" if self.dropped else ""


def refused_field(exc: PermanentError, names: list[str]) -> str | None:
    """The field a 400 from Maileon names (the longest one its message contains)."""
    if exc.status != 400:
        return None
    named = [n for n in names if n and n != CREATED_BY and n in exc.message]
    return max(named, key=len) if named else None


async def update_data(
    maileon: MaileonClient,
    state: PersonState,
    old_email: str,
    data: ContactData,
    create_new: Callable[[dict[str, Any]], Awaitable[bool]],
) -> str:
    """Data-only sync, which never changes a permission: update the contact (PUT without a
    permission), following an email change; create it only when Maileon has none (404), with
    permission NONE and createdByPipedrive. A contact unsubscribed in Maileon is not
    re-created. A person never written before goes through `create_new` first (a batch that
    creates only contacts Maileon lacks, sync/persons/new_contacts.py)."""
    person = data.person
    if (
        not state.maileon_state
        and not old_email
        and await create_new(
            {
                "email": person.email,
                "external_id": str(person.id),
                "standard_fields": data.standard,
                "custom_fields": {**data.custom, CREATED_BY: True},
            }
        )
    ):
        state.maileon_state = "none"
        state.app_created = 1
        return "created in Maileon without permission (Newsletter is not Subscribed)"
    if await _move_if_renamed(maileon, old_email, data):
        return "email address changed in Maileon"
    try:
        await _put_data(maileon, data)
        if not state.maileon_state:  # a batch of new contacts may have created it just now
            state.maileon_state = "found"
            state.app_created = await created_flag(maileon, person.email)
        return (
            "updated in Maileon (its permission is kept)"
            if state.maileon_state == "found"
            else "updated in Maileon"
        )
    except NotFound:
        if state.maileon_state == "unsubscribed":
            raise NotSynced(
                "the contact unsubscribed in Maileon; its data is not re-created"
            ) from None
    created = await data.write(
        lambda std, custom: maileon.create_contact(
            person.email,
            permission=PERMISSION_NONE,
            external_id=str(person.id),
            standard_fields=std,
            custom_fields={**custom, CREATED_BY: True},
        )
    )
    if not created:  # it came into being meanwhile: update it, its permission stays
        await _put_data(maileon, data)
        if not state.maileon_state:
            state.maileon_state, state.app_created = "found", 0
        return "updated in Maileon (its permission is kept)"
    again = bool(state.maileon_state)
    state.maileon_state = "none"
    state.app_created = 1
    return (
        "re-created" if again else "created"
    ) + " in Maileon without permission (Newsletter is not Subscribed)"


async def _put_data(
    maileon: MaileonClient, data: ContactData, permission: int | None = None
) -> None:
    await data.write(
        lambda std, custom: maileon.update_contact(
            data.person.email,
            external_id=str(data.person.id),
            standard_fields=std,
            custom_fields=custom,
            permission=permission,
        )
    )


async def _move_if_renamed(maileon: MaileonClient, old_email: str, data: ContactData) -> bool:
    """After an email change, move the contact to the new address (True). False when there is
    nothing to move: no change, the old contact is gone, or the new address has a contact
    already (then the old one is deleted if the app created it, else left as it is); the
    caller writes the new address."""
    person = data.person
    if not old_email or old_email.lower() == person.email.lower():
        return False
    try:
        await data.write(
            lambda std, custom: maileon.update_contact(
                old_email,
                external_id=str(person.id),
                standard_fields=std,
                custom_fields=custom,
                new_email=person.email,
            )
        )
    except NotFound:
        return False
    except ApiError as exc:
        # the new address has a contact already: 409, or 400 (UNCONFIRMED which; check --write
        # says which this account gives), told apart from other 400s by reading it
        if exc.status != 409 and (
            exc.status != 400 or await maileon.get_contact(person.email) is None
        ):
            raise
        if await created_flag(maileon, old_email):  # never delete a contact the app found
            await maileon.delete_contact(old_email)
        return False
    return True


async def prepare_contact(
    ctx: Context,
    maileon: MaileonClient,
    settings: Settings,
    person: Person,
    fields: dict[str, PersonField],
) -> tuple[dict[str, str], dict[str, Any]]:
    """The contact's Maileon fields; missing custom fields are created in Maileon first."""
    await ensure_maileon_fields(ctx, maileon, settings, fields)
    if person.org_id and not person.org_name:
        person.org_name = (await organization_names(ctx, settings.company_id, {person.org_id})).get(
            person.org_id, ""
        )
    extras = await field_mapping.builtin_values(ctx, settings, [person], fields)
    return contact_fields(person, settings, fields, extras.get(person.id))


def permission_rank(permission: int) -> int:
    """How strong a consent is: NONE < SOI < COI = OTHER < DOI < DOI+. OTHER (a consent given
    outside Maileon's processes) is never replaced by a single or confirmed opt-in."""
    return {1: 0, 2: 1, 3: 2, 6: 2, 4: 3, 5: 4}.get(permission, 0)


async def subscribe_contact(
    maileon: MaileonClient,
    settings: Settings,
    state: PersonState,
    old_email: str,
    data: ContactData,
) -> str:
    """An explicit subscribe (Newsletter → Subscribed, the panel's Subscribe).

    A new contact gets the Initial permission, or permission NONE and a DOI process. An
    existing one is read first: DOI or DOI+ is subscribed at once (no new DOI mail); otherwise
    DOI starts while the contact keeps its permission, or without DOI the Initial permission
    is given only when it is stronger than the one the contact has. Never lowered."""
    person = data.person
    await _move_if_renamed(maileon, old_email, data)
    doi = settings.doi_enabled
    initial = settings.initial_permission
    # DOI+ (tracking consent) when the admin asks for it; a company that chose DOI+ as its
    # Initial permission before the option existed keeps asking for it.
    doiplus = doi and (settings.doi_plus or initial == 5)
    contact = await maileon.get_contact(person.email)
    if contact is None:
        created = await data.write(
            lambda std, custom: maileon.create_contact(
                person.email,
                permission=PERMISSION_NONE if doi else initial,
                external_id=str(person.id),
                standard_fields=std,
                custom_fields={**custom, CREATED_BY: True},
                doi=doi,
                doiplus=doiplus,
                doimailing=settings.doi_mailing_key,
            )
        )
        if created:
            state.maileon_state = "pending" if doi else "subscribed"
            state.app_created = 1
            return (
                "created in Maileon, double opt-in started"
                if doi
                else f"created in Maileon, subscribed with permission {initial}"
            )
        contact = await maileon.get_contact(person.email)
        if contact is None:
            raise TransientError(
                "the Maileon contact changed while subscribing; retrying", service="Maileon"
            )
    if not state.maileon_state:  # the contact was in Maileon before the app wrote it
        state.app_created = 0
    unsubscribed = contact["standard_fields"].get("PERMISSION_STATUS") == "unsubscribed"
    current = PERMISSION_NONE if unsubscribed else int(contact["permission"])
    if current in (4, 5):
        await _put_data(maileon, data)
        state.maileon_state = "subscribed"
        return (
            f"subscribed: the contact has {PERMISSIONS[current]} already "
            "(no new double opt-in mail)"
        )
    if doi:
        await _put_data(maileon, data)
        await maileon.start_doi(
            person.email,
            keep_permission=current,
            doiplus=doiplus,
            doimailing=settings.doi_mailing_key,
        )
        state.maileon_state = "pending"
        return f"double opt-in started (permission {PERMISSIONS[current]} kept until confirmed)"
    state.maileon_state = "subscribed"
    if permission_rank(initial) > permission_rank(current) or unsubscribed:
        await _put_data(maileon, data, permission=initial)
        return f"subscribed with permission {initial}"
    await _put_data(maileon, data)
    return f"subscribed; its permission {PERMISSIONS[current]} is kept"


async def unsubscribe_contact(maileon: MaileonClient, state: PersonState, email: str) -> str:
    await maileon.unsubscribe(email)
    state.maileon_state = "unsubscribed"
    return "unsubscribed in Maileon"


async def newsletter_action(
    ctx: Context, settings: Settings, state: PersonState, person: Person, subscribe: bool
) -> str:
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
    fields = await person_fields(ctx, company_id)
    standard, custom = await prepare_contact(ctx, maileon, settings, person, fields)
    # the data as of this action: the webhook echo of the field write below is then no news
    state.data_hash = data_fingerprint(person.email, standard, custom)
    if subscribe:
        data = ContactData(person, standard, custom)
        message = await subscribe_contact(maileon, settings, state, old_email, data)
        message += data.dropped_note()
        value = PENDING if state.maileon_state == "pending" else SUBSCRIBED
    else:
        message = await unsubscribe_contact(maileon, state, old_email or person.email)
        value = UNSUBSCRIBED
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
            return Outcome.ok(
                f"person {job.entity_id} merged into {survivor_id}; "
                "the contact now belongs to the surviving person"
            )
    if people.others_with_email(ctx.store, job.company_id, state.person_id, email):
        _mark_deleted(ctx, state)
        return Outcome.skipped(
            f"person {job.entity_id} deleted; its address is still used by "
            "another person, so the contact was kept"
        )
    verb = "merged away" if survivor_id else "deleted"
    if not await created_by_app(ctx, state, email):
        _mark_deleted(ctx, state)
        return Outcome.skipped(f"person {job.entity_id} {verb}: {KEPT}")
    await ctx.maileon(job.company_id).delete_contact(email)
    _mark_deleted(ctx, state)
    return Outcome.ok(f"person {job.entity_id} {verb}: contact removed from Maileon")


def _mark_deleted(ctx: Context, state: PersonState) -> None:
    state.deleted = True
    people.touch_synced(state)
    people.save(ctx.store, state)


def contact_fields(
    person: Person,
    settings: Settings,
    fields: dict[str, PersonField],
    extras: dict[str, Any] | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """The standard and custom fields of the person's contact (without createdByPipedrive,
    which is sent only when the app creates the contact). A mapped field goes to the Maileon
    field its slot chose (sync/persons/field_mapping.py; `extras`: the Pipedrive-own fields'
    values);
    a value a standard field cannot take is left out. A field that is empty in Pipedrive is
    sent as "" (Maileon keeps an omitted field and clears one sent as "", reference §2.3), so
    a value cleared in Pipedrive is cleared in Maileon."""
    full = person.name or f"{person.first_name} {person.last_name}".strip()
    standard = {
        "FIRSTNAME": person.first_name[:255],
        "LASTNAME": person.last_name[:255],
        "FULLNAME": full[:255],
        "ORGANIZATION": person.org_name[:255],
    }
    custom: dict[str, Any] = {}
    field_mapping.write_mapped(person, settings, fields, extras, standard, custom)
    return standard, custom


def data_fingerprint(email: str, standard: dict[str, str], custom: dict[str, Any]) -> str:
    blob = json.dumps([email.lower(), standard, custom], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


async def ensure_maileon_fields(
    ctx: Context, maileon: MaileonClient, settings: Settings, fields: dict[str, PersonField]
) -> None:
    """createdByPipedrive and the mapped fields exist in Maileon with matching types."""
    wanted = {CREATED_BY: "boolean", **field_mapping.wanted_custom_fields(settings, fields)}

    def read() -> bool | None:
        known = ctx.cached(settings.company_id, "maileon_fields", MAILEON_FIELDS_TTL)
        return True if isinstance(known, list) and set(wanted) <= set(known) else None

    async def fill() -> bool:
        # checked lately, before a restart: the fields are there (a refused one is dropped
        # from the write and named, see `refused_field`)
        known = ctx.checked(settings.company_id, "maileon_fields", MAILEON_FIELDS_TTL)
        if isinstance(known, list) and set(wanted) <= set(known):
            return True
        existing = await maileon.custom_fields()
        for name, kind in wanted.items():
            if name not in existing:
                await maileon.create_custom_field(name, kind)
        names = sorted(set(existing) | set(wanted))
        ctx.remember_check(settings.company_id, "maileon_fields", names, MAILEON_FIELDS_TTL)
        return True

    await ctx.fill_once(settings.company_id, "maileon_fields", read, fill)
