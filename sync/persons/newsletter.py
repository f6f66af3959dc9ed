"""The Newsletter person field's vocabulary (F6, F8): its name, its three options, the label a
person carries, and writing it back to Pipedrive so the webhook echo of that write is no news."""

from __future__ import annotations

from store import people
from store.db import now
from store.people import PersonState
from store.tenants import Settings
from sync.engine.context import Context
from sync.persons.fields import PersonField, plain_value
from sync.persons.person import Person
from sync.webhook.parse import normalize_time

NEWSLETTER = "Newsletter"
SUBSCRIBED, PENDING, UNSUBSCRIBED = "Subscribed", "Pending confirmation", "Unsubscribed"
NEWSLETTER_OPTIONS = (SUBSCRIBED, PENDING, UNSUBSCRIBED)


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


async def write_back_pending(
    ctx: Context, settings: Settings, state: PersonState, label: str
) -> None:
    """After starting DOI, show 'Pending confirmation' on the person (once)."""
    if state.maileon_state == "pending" and label == SUBSCRIBED:
        await set_newsletter(ctx, settings, state, PENDING)


async def set_newsletter(ctx: Context, settings: Settings, state: PersonState, value: str) -> None:
    """Write the Newsletter field in Pipedrive and remember it, so its echo is a no-op."""
    option = settings.newsletter_options.get(value)
    if not settings.newsletter_field_key or option is None:
        return
    updated = await ctx.pipedrive(settings.company_id).patch_person(
        state.person_id, {"custom_fields": {settings.newsletter_field_key: option}}
    )
    state.newsletter = value
    state.written_newsletter = value
    state.written_at = now()
    state.last_update_time = max(
        state.last_update_time, normalize_time((updated or {}).get("update_time"))
    )
    people.save(ctx.store, state)
