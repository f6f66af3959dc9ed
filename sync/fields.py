"""Pipedrive person fields: definitions (cached), value normalization across the three wire
forms (v2 webhook typed objects, API v2 plain values, v1 root keys), and Maileon typing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.context import Context

FIELD_CACHE_TTL = 600.0
NEWSLETTER = "Newsletter"
NEWSLETTER_OPTIONS = ("Subscribed", "Pending confirmation", "Unsubscribed")
CREATED_BY = "createdByPipedrive"

# Pipedrive field type -> Maileon custom field type
MAILEON_TYPES = {"double": "float", "monetary": "float", "date": "date", "int": "integer"}


@dataclass(frozen=True)
class PersonField:
    key: str
    name: str
    field_type: str
    options: dict[int, str]
    custom: bool

    @property
    def maileon_type(self) -> str:
        return MAILEON_TYPES.get(self.field_type, "string")


def parse_field(raw: dict[str, Any]) -> PersonField:
    options = {}
    for opt in raw.get("options") or []:
        try:
            options[int(opt["id"])] = str(opt["label"])
        except (KeyError, TypeError, ValueError):
            continue
    key = str(raw.get("key") or raw.get("field_code") or "")
    custom = bool(raw.get("edit_flag", raw.get("is_custom_field", False))) or len(key) == 40
    return PersonField(key=key, name=str(raw.get("name") or raw.get("field_name") or key),
                       field_type=str(raw.get("field_type", "varchar")), options=options,
                       custom=custom)


async def person_fields(ctx: Context, company_id: int, refresh: bool = False
                        ) -> dict[str, PersonField]:
    cached = None if refresh else ctx.cached(company_id, "person_fields", FIELD_CACHE_TTL)
    if isinstance(cached, dict):
        return cached
    async with ctx.company_lock(company_id, "person_fields"):
        cached = None if refresh else ctx.cached(company_id, "person_fields", FIELD_CACHE_TTL)
        if isinstance(cached, dict):
            return cached  # filled by the job we waited for
        raw = await ctx.pipedrive(company_id).person_fields()
        fields = {f.key: f for f in map(parse_field, raw) if f.key}
        ctx.remember(company_id, "person_fields", fields, FIELD_CACHE_TTL)
        return fields


def plain_value(raw: Any, field: PersonField | None) -> Any:
    """Any wire form → plain value: str/number, {'value','currency'}, option id, [option ids]."""
    if raw is None:
        return None
    if isinstance(raw, dict) and "type" in raw:  # v2 webhook typed object
        kind = raw.get("type")
        if kind == "enum":
            return raw.get("id")
        if kind == "set":
            return [v.get("id") for v in raw.get("values") or [] if isinstance(v, dict)]
        if kind == "monetary":
            return {"value": raw.get("value"), "currency": raw.get("currency")}
        if kind == "address":
            return raw.get("formatted_address") or raw.get("value")
        if kind in ("people", "org", "user"):
            return raw.get("id")
        if kind == "daterange":
            return raw.get("from")
        return raw.get("value")
    if field is not None and field.field_type == "enum" and isinstance(raw, str):
        return int(raw) if raw.strip().isdigit() else raw
    if field is not None and field.field_type == "set" and isinstance(raw, str):
        return [int(p) for p in raw.split(",") if p.strip().isdigit()]
    if isinstance(raw, dict) and "value" in raw and field is not None \
            and field.field_type == "address":
        return raw.get("formatted_address") or raw.get("value")
    return raw


def maileon_value(value: Any, field: PersonField) -> Any:
    """Plain value → what the Maileon custom field of `field.maileon_type` accepts."""
    if value in (None, "", []):
        return None
    kind = field.field_type
    if kind == "enum":
        return field.options.get(_as_int(value), str(value))
    if kind == "set":
        ids = value if isinstance(value, list) else [value]
        return ", ".join(field.options.get(_as_int(i), str(i)) for i in ids)[:255]
    if kind == "monetary":
        value = value.get("value") if isinstance(value, dict) else value
    if field.maileon_type == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if field.maileon_type == "date":
        return str(value)[:10]
    if isinstance(value, dict):
        value = value.get("value") or value.get("formatted_address") or ""
    return str(value)[:255]


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
