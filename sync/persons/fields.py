"""Pipedrive person fields: definitions (cached), value normalization across the three wire
forms (v2 webhook typed objects, API v2 plain values, v1 root keys), and Maileon typing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from clients.digits import ascii_int
from sync.engine.context import Context

FIELD_CACHE_TTL = 600.0
CREATED_BY = "createdByPipedrive"

# Pipedrive field type -> Maileon custom field type
MAILEON_TYPES = {"double": "float", "monetary": "float", "date": "date", "int": "integer"}

# Maileon's writable standard fields (reference §2.9). Those the app fills from the person itself
# are not offered to a mapped field: a mapped "First name" goes to a custom field instead.
STANDARD_FIELDS = (
    "ADDRESS",
    "BIRTHDAY",
    "CITY",
    "COUNTRY",
    "FIRSTNAME",
    "FULLNAME",
    "GENDER",
    "HNR",
    "LASTNAME",
    "LOCALE",
    "NAMEDAY",
    "ORGANIZATION",
    "REGION",
    "SALUTATION",
    "STATE",
    "TITLE",
    "ZIP",
)
APP_STANDARD = ("FIRSTNAME", "LASTNAME", "FULLNAME", "ORGANIZATION")
READ_ONLY_STANDARD = ("PERMISSION_STATUS", "SENDOUT_STATUS", "CUSTOM_SOURCE", "CHECKSUM")
# Names Maileon refuses for a custom field besides the standard ones (reference §3).
RESERVED_NAMES = {
    "id",
    "created",
    "external_id",
    "local_part",
    "permission_type",
    "permission_status",
    "sendout_status",
    "updated",
    "email",
}
# Pipedrive field names (lower case, letters and digits only) meaning a standard field.
STANDARD_BY_NAME = {
    "address": "ADDRESS",
    "streetaddress": "ADDRESS",
    "street": "ADDRESS",
    "birthday": "BIRTHDAY",
    "dateofbirth": "BIRTHDAY",
    "birthdate": "BIRTHDAY",
    "city": "CITY",
    "town": "CITY",
    "country": "COUNTRY",
    "gender": "GENDER",
    "hnr": "HNR",
    "housenumber": "HNR",
    "locale": "LOCALE",
    "nameday": "NAMEDAY",
    "region": "REGION",
    "salutation": "SALUTATION",
    "state": "STATE",
    "title": "TITLE",
    "jobtitle": "TITLE",
    "zip": "ZIP",
    "zipcode": "ZIP",
    "postcode": "ZIP",
    "postalcode": "ZIP",
}
CUSTOM_SUFFIX = " (Pipedrive)"


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


@dataclass(frozen=True)
class MaileonTarget:
    """Where a mapped Pipedrive field goes in Maileon: a standard or a custom field."""

    name: str
    standard: bool

    @property
    def label(self) -> str:
        return f"standard field {self.name}" if self.standard else f'custom field "{self.name}"'


def maileon_target(name: str) -> MaileonTarget:
    """The Maileon field a Pipedrive field named `name` writes.

    A name meaning a standard field (City → CITY) goes there; a name Maileon would refuse for a
    custom field (a standard field name in any case, a reserved name, the app's own
    createdByPipedrive, or fewer than 3 characters) gets the suffix " (Pipedrive)"; names are
    cut to Maileon's 64 characters."""
    name = " ".join(name.split())
    compact = "".join(ch for ch in name.lower() if ch.isalnum())
    standard = STANDARD_BY_NAME.get(compact)
    if standard is None and compact.upper() in STANDARD_FIELDS:
        standard = compact.upper()
    if standard is not None and standard not in APP_STANDARD:
        return MaileonTarget(standard, True)
    if _refused_custom_name(name):
        name = name[: 64 - len(CUSTOM_SUFFIX)] + CUSTOM_SUFFIX
    return MaileonTarget(name[:64], False)


def _refused_custom_name(name: str) -> bool:
    return (
        len(name) < 3
        or name.upper() in STANDARD_FIELDS + READ_ONLY_STANDARD
        or name.lower() in RESERVED_NAMES
        or name.lower() == CREATED_BY.lower()
    )


def standard_value(name: str, value: Any, field: PersonField) -> str | None:
    """A plain value as Maileon's standard field `name` accepts it, or None when it cannot
    (reference §2.9: strings ≤ 255, dates yyyy-MM-dd, GENDER m/f/d, LOCALE xx or xx_XX)."""
    text = maileon_value(value, field)
    if text in (None, ""):
        return None
    text = str(text).strip()
    if name in ("BIRTHDAY", "NAMEDAY"):
        return text[:10] if _is_date(text[:10]) else None
    if name == "GENDER":
        first = text[:1].lower()
        return first if first in ("m", "f", "d") and (len(text) == 1 or text.isalpha()) else None
    if name == "LOCALE":
        ok = (len(text) == 2 and text.islower()) or (
            len(text) == 5 and text[:2].islower() and text[2] == "_" and text[3:].isupper()
        )
        return text if ok else None
    return text[:255]


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def parse_field(raw: dict[str, Any]) -> PersonField:
    options = {}
    for opt in raw.get("options") or []:
        try:
            options[int(opt["id"])] = str(opt["label"])
        except (KeyError, TypeError, ValueError):
            continue
    key = str(raw.get("key") or raw.get("field_code") or "")
    custom = bool(raw.get("edit_flag", raw.get("is_custom_field", False))) or len(key) == 40
    return PersonField(
        key=key,
        name=str(raw.get("name") or raw.get("field_name") or key),
        field_type=str(raw.get("field_type", "varchar")),
        options=options,
        custom=custom,
    )


async def person_fields(
    ctx: Context, company_id: int, refresh: bool = False
) -> dict[str, PersonField]:
    """The company's person fields, read from Pipedrive at most every FIELD_CACHE_TTL, a
    restart included (a deploy restarts every company at once; each company's first jobs
    would otherwise all wait for the same read, and cost a call of its Pipedrive budget)."""

    def read() -> dict[str, PersonField] | None:
        return None if refresh else known_person_fields(ctx, company_id)

    async def fill() -> dict[str, PersonField]:
        raw = await ctx.pipedrive(company_id).person_fields()
        fields = {f.key: f for f in map(parse_field, raw) if f.key}
        ctx.remember_check(
            company_id, "person_fields", fields, FIELD_CACHE_TTL, stored=fields_to_json(fields)
        )
        return fields

    return await ctx.fill_once(company_id, "person_fields", read, fill)


def known_person_fields(ctx: Context, company_id: int) -> dict[str, PersonField] | None:
    """The copy read lately, by this process or before a restart, without asking Pipedrive."""
    found = ctx.checked(company_id, "person_fields", FIELD_CACHE_TTL, decode=fields_from_json)
    return found if isinstance(found, dict) else None


def fields_to_json(fields: dict[str, PersonField]) -> list[list[Any]]:
    return [
        [f.key, f.name, f.field_type, list(f.options.items()), f.custom] for f in fields.values()
    ]


def fields_from_json(stored: Any) -> dict[str, PersonField] | None:
    """What `fields_to_json` wrote; None when it is not that (a refill then)."""
    try:
        return {
            key: PersonField(key, name, field_type, {int(i): str(t) for i, t in options}, custom)
            for key, name, field_type, options, custom in stored
        }
    except (TypeError, ValueError):
        return None


def plain_value(raw: Any, field: PersonField | None) -> Any:
    """Any wire form → plain value: str/number, {'value','currency'}, option id, [option ids]."""
    if raw is None:
        return None
    if isinstance(raw, dict) and "type" in raw:  # v2 webhook typed object
        return _typed_value(raw)
    kind = field.field_type if field is not None else ""
    if kind == "enum" and isinstance(raw, str):
        option = ascii_int(raw)
        return option if option is not None else raw
    if kind == "set" and isinstance(raw, str):
        return [n for p in raw.split(",")[:1000] if (n := ascii_int(p)) is not None]
    if kind == "address" and isinstance(raw, dict) and "value" in raw:
        return raw.get("formatted_address") or raw.get("value")
    return raw


_TYPED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "enum": lambda raw: raw.get("id"),
    "set": lambda raw: [v.get("id") for v in raw.get("values") or [] if isinstance(v, dict)],
    "monetary": lambda raw: {"value": raw.get("value"), "currency": raw.get("currency")},
    "address": lambda raw: raw.get("formatted_address") or raw.get("value"),
    "people": lambda raw: raw.get("id"),
    "org": lambda raw: raw.get("id"),
    "user": lambda raw: raw.get("id"),
    "daterange": lambda raw: raw.get("from"),
}


def _typed_value(raw: dict[str, Any]) -> Any:
    """A v2 webhook's typed object (`{"type": "enum", "id": 3}`) → its plain value."""
    read = _TYPED.get(str(raw.get("type")))
    return read(raw) if read is not None else raw.get("value")


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
    number = ascii_int(value)
    return -1 if number is None else number
