"""Applying the sync rules (F14) where persons are synced: person webhooks, deal transactions,
the import and the panel. The rule evaluation itself is pure (sync/rules/decide.py).

Start and stop matching: each person's last verdict is remembered (store/rules.py); a person
never evaluated counts as inside when it has a Maileon contact. A person that starts matching
goes through the ordinary contact sync (F7, data only). Nothing is subscribed by matching: while
a person is outside, the Newsletter value seen is still recorded, so starting to match later is
not a change of the Newsletter field. A person outside the rules keeps its contact, or has it
removed when the admin chose so; an explicit change of its Newsletter field to Unsubscribed
still reaches a contact that is kept (consent is never held back).
"""

from __future__ import annotations

import logging

from store import people, tenants
from store import rules as stored
from store.db import Store
from store.people import PersonState
from store.tenants import Settings
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.persons.fields import PersonField, person_fields
from sync.persons.newsletter import SUBSCRIBED, UNSUBSCRIBED, newsletter_label
from sync.persons.ownership import KEPT, created_by_app
from sync.persons.person import Person, from_pipedrive, person_label
from sync.rules.decide import Names, SyncRules, Verdict, evaluate, label_field, needs_person_read

log = logging.getLogger("pipedrive_maileon.rules")

OUTSIDE = "outside the sync rules"  # the import's skip reason
REMOVED = "contact removed from Maileon"


def active_rules(store: Store, company_id: int) -> SyncRules:
    return SyncRules.from_json(stored.active_json(store, company_id))


def names_for(store: Store, company_id: int, fields: dict[str, PersonField]) -> Names:
    """Label names from the person fields; user names from the app's installations (the app
    has no scope to list all users: others show as 'user #id')."""
    labels = label_field(fields)
    users = {
        int(i["user_id"]): str(i["user_name"] or f"user #{i['user_id']}")
        for i in tenants.list_installations(store, company_id)
    }
    return Names(labels=dict(labels.options) if labels else {}, users=users, fields=fields)


def has_contact(state: PersonState) -> bool:
    """The app put this person into Maileon and has not removed it."""
    return bool(state.maileon_state and state.email and not state.deleted)


async def verdict(
    ctx: Context,
    settings: Settings,
    rules: SyncRules,
    person: Person,
    fields: dict[str, PersonField] | None = None,
) -> tuple[Verdict, str]:
    """The verdict for a person and its Newsletter label. When the data lacks a label or owner a
    rule needs, the person is read once (a missing owner is also logged as a surprise)."""

    company_id = settings.company_id
    fields = fields if fields is not None else await person_fields(ctx, company_id)
    if needs_person_read(rules, person):
        # webhooks carry one `label` at most, never the whole set: a read is routine for labels;
        # a missing owner is a shape the app did not expect
        (log.warning if rules.owners and person.owner_id is None else log.debug)(
            "person %s: the data carried no label set or no owner; reading the person to "
            "apply the sync rules",
            person.id,
        )
        fresh = await ctx.pipedrive(company_id).get_person(person.id)
        if fresh is not None:
            read = from_pipedrive(fresh)
            person.label_ids, person.owner_id = read.label_ids, read.owner_id
    label = newsletter_label(person, settings, fields)
    return evaluate(rules, person, label, names_for(ctx.store, company_id, fields)), label


async def admit(
    ctx: Context, settings: Settings, state: PersonState, person: Person
) -> Outcome | None:
    """None: sync the person as usual. Otherwise the outcome of leaving it out (the contact
    kept or removed). Call with the person's lock held."""

    company_id = settings.company_id
    rules = active_rules(ctx.store, company_id)
    was = stored.membership(ctx.store, company_id, [person.id]).get(person.id)
    if not rules.filters and was is None:
        return None
    result, label = await verdict(ctx, settings, rules, person)
    if result.matches:
        if was is not True:
            stored.remember_one(ctx.store, company_id, person.id, True)
        return None
    stored.remember_one(ctx.store, company_id, person.id, False)
    contact = has_contact(state)
    if contact and label == UNSUBSCRIBED and state.newsletter != UNSUBSCRIBED:
        return None  # an explicit unsubscribe always reaches Maileon
    unsent = (
        "; its Newsletter change to Subscribed was not sent"
        if label == SUBSCRIBED and state.newsletter != SUBSCRIBED
        else ""
    )
    state.newsletter = label
    state.last_update_time = max(state.last_update_time, person.update_time)
    who = person_label(person)
    if contact and rules.on_stop == "remove":
        message = await remove_contact(ctx, state)
        return Outcome.ok(f"{who}: left out by the sync rules ({result.reason}): {message}")
    people.save(ctx.store, state)
    if contact and was is not False:
        return Outcome.skipped(
            f"{who}: stopped matching the sync rules ({result.reason}); its "
            f"Maileon contact is kept but no longer updated{unsent}"
        )
    if contact:
        return Outcome.skipped(
            f"{who}: left out by the sync rules ({result.reason}); its "
            f"Maileon contact is kept but not updated{unsent}"
        )
    return Outcome.skipped(f"{who}: left out by the sync rules: {result.reason}{unsent}")


async def remove_contact(ctx: Context, state: PersonState) -> str:
    """Remove a person's contact from Maileon (the admin chose 'remove' for persons that stop
    matching) when the app created it; one it found there is kept (`ownership.KEPT`). The app
    still remembers an unsubscribe, so the contact is never re-created with it lost. Saves the
    state."""
    email = state.email
    if people.others_with_email(ctx.store, state.company_id, state.person_id, email):
        message = "its address is still used by another person, so the contact was kept"
    elif not await created_by_app(ctx, state, email):
        people.touch_synced(state)
        people.save(ctx.store, state)  # kept as a contact outside the rules: not updated
        return KEPT
    else:
        await ctx.maileon(state.company_id).delete_contact(email)
        message = REMOVED
    state.email = ""
    state.data_hash = ""
    if state.maileon_state != "unsubscribed":
        state.maileon_state = ""
    people.touch_synced(state)
    people.save(ctx.store, state)
    return message


async def page_outside(
    ctx: Context, settings: Settings, persons: list[Person], fields: dict[str, PersonField]
) -> dict[int, str]:
    """For one page of persons (the import): person id → why it is outside the rules."""
    rules = active_rules(ctx.store, settings.company_id)
    if not rules.filters:
        return {}

    names = names_for(ctx.store, settings.company_id, fields)
    out = {}
    for person in persons:
        if needs_person_read(rules, person):
            result, _ = await verdict(ctx, settings, rules, person, fields)
        else:
            result = evaluate(rules, person, newsletter_label(person, settings, fields), names)
        if not result.matches:
            out[person.id] = result.reason
    return out


async def outside_reason(
    ctx: Context, settings: Settings, person: Person, fields: dict[str, PersonField] | None = None
) -> str:
    """Why a person is outside the rules ('' when inside): for deals, the import, the panel."""
    rules = active_rules(ctx.store, settings.company_id)
    if not rules.filters:
        return ""
    result, _ = await verdict(ctx, settings, rules, person, fields)
    return "" if result.matches else result.reason
