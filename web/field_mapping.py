"""The custom field section of the settings form (F16): the slots as the form sends them, the
"Add field" and "Remove" buttons, the choices it offers, and which mappings a save changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.digits import ascii_int
from clients.errors import ApiError
from store import tenants
from store.tenants import CUSTOM_FIELD_SLOTS, MAX_FIELD_MAPPINGS, Settings
from sync.engine.context import Context
from sync.persons import field_mapping
from sync.persons.fields import APP_STANDARD, STANDARD_FIELDS, PersonField, person_fields

MAX_TARGET_NAME = 64
TARGET_KINDS = ("", "standard", "custom")


@dataclass
class Slots:
    sources: list[str]
    targets: list[str]
    edited: bool  # Add field / Remove was pressed: show the form again, do not save


def from_form(form: Any) -> Slots:
    """The slots the form sent; "Add field" appends one, "Remove" drops one (and the slots
    after it move up)."""
    count = ascii_int(str(form.get("field_count", "")), 6)
    count = max(CUSTOM_FIELD_SLOTS, min(count or 0, MAX_FIELD_MAPPINGS))
    sources, targets = [], []
    for i in range(1, count + 1):
        sources.append(str(form.get(f"custom_field_{i}", "")).strip()[:100])
        kind = str(form.get(f"target_kind_{i}", "")).strip()
        name = str(form.get(f"target_name_{i}", "")).strip()[: MAX_TARGET_NAME * 2]
        targets.append(field_mapping.encode_target(kind if kind in TARGET_KINDS else "", name))
    edited = False
    if form.get("add_field") and count < MAX_FIELD_MAPPINGS:
        sources.append("")
        targets.append("")
        edited = True
    remove = ascii_int(str(form.get("remove_field", "")))
    if remove is not None and 1 <= remove <= len(sources):
        del sources[remove - 1]
        del targets[remove - 1]
        edited = True
    while len(sources) < CUSTOM_FIELD_SLOTS:
        sources.append("")
        targets.append("")
    return Slots(sources, targets, edited)


def form_rows(settings: Settings, fields: dict[str, PersonField]) -> list[dict[str, Any]]:
    """One row per slot: what it maps, the chosen target and the Maileon field it writes."""
    rows = []
    targets = settings.field_targets + [""] * len(settings.custom_fields)
    for i, source in enumerate(settings.custom_fields):
        kind, _, name = targets[i].partition(":")
        field = field_mapping.field_of(source, fields) if source else None
        writes = ""
        if field is not None:
            mapping = field_mapping.Mapping(i + 1, source, targets[i])
            writes = field_mapping.target_of(mapping, field).label
        rows.append({"slot": i + 1, "source": source, "kind": kind, "name": name, "writes": writes})
    return rows


def standard_choices() -> list[str]:
    return [n for n in STANDARD_FIELDS if n not in APP_STANDARD]


def changed_slots(old: Settings, new_sources: list[str], new_targets: list[str]) -> list[int]:
    """The slots whose mapping a save changed (a new field, a new target), mapping something."""
    before = {m.slot: m for m in field_mapping.mappings(old)}
    out = []
    for i, source in enumerate(new_sources):
        prior = before.get(i + 1)
        if source and (prior is None or (prior.source, prior.target) != (source, new_targets[i])):
            out.append(i + 1)
    return out


async def maileon_field_types(ctx: Context, company_id: int, configured: bool) -> dict[str, str]:
    """Maileon's custom fields and their types ({} without a key or when Maileon fails: the
    type check then happens when the field is written)."""
    if not configured:
        return {}
    try:
        return await ctx.maileon(company_id).custom_fields()
    except ApiError:
        return {}


async def warnings(ctx: Context, company_id: int) -> list[str]:
    """The health card's warnings about the stored mappings (a Pipedrive field deleted since,
    a target Maileon refuses). Person fields come from the ten-minute cache."""
    settings = tenants.get_settings(ctx.store, company_id)
    if not field_mapping.mappings(settings):
        return []
    try:
        fields = await person_fields(ctx, company_id)
    except ApiError:
        return []
    return [
        f"{problem} Its values are not written to Maileon; fix it in Settings."
        for problem in field_mapping.problems(settings, fields)
    ]
