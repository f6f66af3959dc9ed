"""Field mapping (F16): which Pipedrive person field each slot reads - a custom field or one of
Pipedrive's own (phone, labels, owner, the organization's name and address parts) - and which
Maileon field it writes: the default for the field's name (`sync.persons.fields.maileon_target`), a
chosen standard field, or a chosen (possibly new) custom field.

A slot's target is stored as "" (the default), "standard:NAME" or "custom:Name"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.digits import ascii_int
from store import tenants
from sync.engine.context import Context
from sync.persons.fields import (
    APP_STANDARD,
    STANDARD_FIELDS,
    MaileonTarget,
    PersonField,
    _refused_custom_name,
    maileon_target,
    maileon_value,
    plain_value,
    standard_value,
)
from sync.persons.newsletter import NEWSLETTER
from sync.persons.person import Person, label_ids
from sync.rules.decide import label_field

ORG_TTL = 600.0
PIPEDRIVE = "pd:"
# Pipedrive's own person fields a slot can map: key -> name shown (and default target name)
BUILTINS = {
    "pd:phone": "Phone",
    "pd:labels": "Labels",
    "pd:owner": "Owner",
    "pd:org_name": "Organization name",
    "pd:org_address": "Organization address",
    "pd:org_street": "Organization street",
    "pd:org_hnr": "Organization house number",
    "pd:org_zip": "Organization postal code",
    "pd:org_city": "Organization city",
    "pd:org_state": "Organization state",
    "pd:org_country": "Organization country",
}
# the part of a Pipedrive organization's `address` object each organization field reads
ORG_PARTS = {
    "pd:org_street": "route",
    "pd:org_hnr": "street_number",
    "pd:org_zip": "postal_code",
    "pd:org_city": "locality",
    "pd:org_state": "admin_area_level_1",
    "pd:org_country": "country",
}
DATE_STANDARD = ("BIRTHDAY", "NAMEDAY")


@dataclass(frozen=True)
class Mapping:
    slot: int  # 1-based, as the form labels it ("Custom field 3")
    source: str
    target: str  # "", "standard:NAME" or "custom:Name"


def builtin_field(key: str) -> PersonField:
    return PersonField(key=key, name=BUILTINS[key], field_type="varchar", options={}, custom=False)


def source_fields(fields: dict[str, PersonField]) -> dict[str, PersonField]:
    """What a slot can map: the custom person fields (not Newsletter) and Pipedrive's own."""
    custom = sorted(
        (f for f in fields.values() if f.custom and f.name != NEWSLETTER),
        key=lambda f: f.name.lower(),
    )
    out = {f.key: f for f in custom}
    out.update({key: builtin_field(key) for key in BUILTINS})
    return out


def mappings(settings: tenants.Settings) -> list[Mapping]:
    targets = settings.field_targets + [""] * len(settings.custom_fields)
    return [Mapping(i + 1, key, targets[i]) for i, key in enumerate(settings.custom_fields) if key]


def field_of(source: str, fields: dict[str, PersonField]) -> PersonField | None:
    if source in BUILTINS:
        return builtin_field(source)
    return fields.get(source)


def target_of(mapping: Mapping, field: PersonField) -> MaileonTarget:
    kind, _, name = mapping.target.partition(":")
    if kind == "standard" and name:
        return MaileonTarget(name, True)
    if kind == "custom" and name:
        return MaileonTarget(name, False)
    return maileon_target(field.name)


def encode_target(kind: str, name: str) -> str:
    """The stored form of what the admin chose ("" when they kept the default)."""
    name = " ".join(name.split())
    if kind == "standard" and name:
        return f"standard:{name.upper()}"
    if kind == "custom" and name:
        return f"custom:{name}"
    return ""


def target_problem(mapping: Mapping, field: PersonField) -> str | None:
    """Why Maileon would refuse this slot's target (reference §2.9, §3), or None."""
    target = target_of(mapping, field)
    if target.standard:
        if target.name not in STANDARD_FIELDS:
            known = ", ".join(n for n in STANDARD_FIELDS if n not in APP_STANDARD)
            return f"Maileon has no standard field {target.name} (it has {known})."
        if target.name in APP_STANDARD:
            return f"The app fills the standard field {target.name} itself."
        if target.name in DATE_STANDARD and field.field_type != "date":
            return f"{target.name} takes only dates; {field.name} is not a date field."
        return None
    if len(target.name) > 64 or _refused_custom_name(target.name):
        return (
            f'Maileon refuses a custom field named "{target.name}" (3 to 64 characters, not a '
            "standard field name or a reserved name)."
        )
    return None


def problems(
    settings: tenants.Settings,
    fields: dict[str, PersonField],
    maileon_types: dict[str, str] | None = None,
) -> list[str]:
    """Every mapping Maileon would refuse or that reads nothing, one message each: two slots
    writing the same field, a target Maileon refuses, a type clash with an existing Maileon
    custom field, a Pipedrive field deleted since it was chosen."""
    out: list[str] = []
    seen: dict[tuple[bool, str], int] = {}
    sources: dict[str, int] = {}
    for m in mappings(settings):
        label = f"Custom field {m.slot}"
        if m.source in sources:
            out.append(
                f"{label} maps the same Pipedrive field as Custom field {sources[m.source]}; "
                "each Pipedrive field can be mapped only once."
            )
            continue
        sources[m.source] = m.slot
        field = field_of(m.source, fields)
        if field is None or (m.source not in BUILTINS and not field.custom):
            out.append(f"{label}: its Pipedrive field no longer exists in Pipedrive.")
            continue
        problem = target_problem(m, field)
        if problem:
            out.append(f"{label}: {problem}")
            continue
        target = target_of(m, field)
        key = (target.standard, target.name if not target.standard else target.name.upper())
        if key in seen:
            out.append(
                f"{label} and Custom field {seen[key]} both write Maileon {target.label}; "
                "choose another Maileon field for one of them."
            )
            continue
        seen[key] = m.slot
        have = (maileon_types or {}).get(target.name)
        if not target.standard and have and have != field.maileon_type:
            out.append(
                f"{label}: Maileon's {target.label} holds {have} values, "
                f"{field.name} gives {field.maileon_type} values."
            )
    return out


def wanted_custom_fields(
    settings: tenants.Settings, fields: dict[str, PersonField]
) -> dict[str, str]:
    """The Maileon custom fields the valid mappings write, with their types."""
    out = {}
    for m in mappings(settings):
        field = field_of(m.source, fields)
        if field is None or target_problem(m, field):
            continue
        target = target_of(m, field)
        if not target.standard:
            out[target.name] = field.maileon_type
    return out


def write_mapped(
    person: Person,
    settings: tenants.Settings,
    fields: dict[str, PersonField],
    extras: dict[str, Any] | None,
    standard: dict[str, str],
    custom: dict[str, Any],
) -> None:
    """Add each mapped field's value to the contact's fields. An empty value is sent as "" so
    Maileon clears it; a value the data does not carry (a webhook without the custom field, an
    organization Pipedrive did not return) is left out, so Maileon keeps what it has."""
    done: set[tuple[bool, str]] = set()
    for m in mappings(settings):
        field = field_of(m.source, fields)
        if field is None or target_problem(m, field):
            continue
        if m.source in BUILTINS:
            if extras is None or m.source not in extras:
                continue
            value = extras[m.source]
        elif m.source in person.custom:
            value = plain_value(person.custom[m.source], field)
        else:
            continue
        target = target_of(m, field)
        if (target.standard, target.name) in done:
            continue  # two slots on one field: the first wins (the save refuses this)
        done.add((target.standard, target.name))
        if value in (None, "", []):
            (standard if target.standard else custom)[target.name] = ""
        elif target.standard:
            text = standard_value(target.name, value, field)
            if text is not None:
                standard[target.name] = text
        elif (converted := maileon_value(value, field)) is not None:
            custom[target.name] = converted


async def builtin_values(
    ctx: Context,
    settings: tenants.Settings,
    persons: list[Person],
    fields: dict[str, PersonField],
) -> dict[int, dict[str, Any]]:
    """Per person id: the values of the Pipedrive-own fields the mappings read. Organizations
    are read from Pipedrive in batches of 100 and cached for ten minutes."""
    wanted = {m.source for m in mappings(settings) if m.source in BUILTINS}
    if not wanted or not persons:
        return {}
    orgs: dict[int, dict[str, Any]] = {}
    if wanted & (set(ORG_PARTS) | {"pd:org_address", "pd:org_name"}):
        orgs = await organizations(
            ctx, settings.company_id, {p.org_id for p in persons if p.org_id}
        )
    if "pd:labels" in wanted:
        await _read_labels(ctx, settings.company_id, persons)
    labels = label_field(fields)
    users = {
        int(i["user_id"]): str(i["user_name"] or "")
        for i in tenants.list_installations(ctx.store, settings.company_id)
    }
    options = labels.options if labels else {}
    return {
        p.id: {
            **_person_values(p, wanted, options, users),
            **_org_values(p, wanted, orgs),
        }
        for p in persons
    }


def _person_values(
    person: Person, wanted: set[str], labels: dict[int, str], users: dict[int, str]
) -> dict[str, Any]:
    """The person's own phone, labels (as names) and owner's name, where a slot maps them."""
    values: dict[str, Any] = {}
    if "pd:phone" in wanted and person.phone is not None:
        values["pd:phone"] = person.phone
    if "pd:labels" in wanted and person.label_ids is not None:
        values["pd:labels"] = ", ".join(
            labels.get(i, f"label #{i}") for i in sorted(person.label_ids)
        )[:255]
    if "pd:owner" in wanted and person.owner_id in users:
        values["pd:owner"] = users[person.owner_id]
    return values


def _org_values(
    person: Person, wanted: set[str], orgs: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The name and address parts of the person's organization, where a slot maps them. No
    organization: its fields are empty; one Pipedrive did not return: left out."""
    org = orgs.get(person.org_id) if person.org_id else {"name": "", "address": {}}
    if org is None:
        return {}
    address = org.get("address")
    address = address if isinstance(address, dict) else {}
    values: dict[str, Any] = {}
    if "pd:org_name" in wanted:
        values["pd:org_name"] = str(org.get("name") or "")
    if "pd:org_address" in wanted:
        values["pd:org_address"] = str(
            address.get("formatted_address") or address.get("value") or ""
        )
    for key, part in ORG_PARTS.items():
        if key in wanted:
            values[key] = str(address.get(part) or "")
    return values


def forget_organization(ctx: Context, company_id: int, org_id: int) -> None:
    """An organization changed: its cached address goes (read anew at the next person sync).
    The app registers no organization webhooks today, so the ten-minute cache bounds it."""
    ctx.caches.pop((company_id, f"org:{org_id}"), None)


async def _read_labels(ctx: Context, company_id: int, persons: list[Person]) -> None:
    """A webhook's person says only its first label (sync/persons.py): read the person once
    for all of them when a slot maps the labels."""
    for person in persons:
        if person.label_ids is None:
            raw = await ctx.pipedrive(company_id).get_person(person.id)
            person.label_ids = label_ids(raw or {})


async def organizations(
    ctx: Context, company_id: int, org_ids: set[int]
) -> dict[int, dict[str, Any]]:
    """The organizations (name and address), from the cache or Pipedrive (100 per call)."""
    found: dict[int, dict[str, Any]] = {}
    missing = []
    for oid in sorted(org_ids):
        hit = ctx.cached(company_id, f"org:{oid}", ORG_TTL)
        if isinstance(hit, dict):
            found[oid] = hit
        else:
            missing.append(oid)
    if missing:
        client = ctx.pipedrive(company_id)
        for start in range(0, len(missing), 100):
            for org in await client.organizations(missing[start : start + 100]):
                got = ascii_int(org.get("id"))
                if got is None:
                    continue  # not an organization id: as if Pipedrive had not returned it
                data = {"name": org.get("name") or "", "address": org.get("address") or {}}
                found[got] = data
                ctx.remember(company_id, f"org:{got}", data, ORG_TTL)
    return found
