"""One shape for a Pipedrive person, whichever wire form it came in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sync.webhook.parse import normalize_time, parse_id, ref_id

HASH_KEY = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Person:
    id: int
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    org_id: int | None = None
    org_name: str = ""
    update_time: str = ""
    custom: dict[str, Any] = field(default_factory=dict)
    label_ids: set[int] | None = None  # None: the data did not say (see sync/rules/decide.py)
    owner_id: int | None = None
    phone: str | None = None  # the primary phone; None: the data did not say (F16 mapping)


def primary_email(obj: dict[str, Any]) -> str:
    for key in ("emails", "email"):
        items = obj.get(key)
        if isinstance(items, str):
            return items.strip()
        if isinstance(items, list) and items:
            chosen = next((e for e in items if isinstance(e, dict) and e.get("primary")), items[0])
            value = chosen.get("value") if isinstance(chosen, dict) else chosen
            if isinstance(value, str) and value.strip():
                return value.strip()
    value = obj.get("primary_email")
    return value.strip() if isinstance(value, str) else ""


def from_pipedrive(obj: dict[str, Any]) -> Person:
    """v2 webhook `data`, v1 webhook `current` or an API v2 person."""
    custom = obj.get("custom_fields")
    if not isinstance(custom, dict):  # v1: custom fields are 40-hex keys at the root
        custom = {k: v for k, v in obj.items() if HASH_KEY.match(str(k))}
    org = obj.get("org_id")
    org_name = obj.get("org_name") or (org.get("name") if isinstance(org, dict) else "") or ""
    return Person(
        id=int(obj["id"]),
        name=str(obj.get("name") or ""),
        first_name=str(obj.get("first_name") or ""),
        last_name=str(obj.get("last_name") or ""),
        email=primary_email(obj),
        org_id=ref_id(org),
        org_name=str(org_name),
        update_time=normalize_time(obj.get("update_time")),
        custom=dict(custom),
        label_ids=label_ids(obj),
        owner_id=ref_id(obj.get("owner_id")),
        phone=primary_phone(obj),
    )


def primary_phone(obj: dict[str, Any]) -> str | None:
    """The primary phone of `phones` (v2) or `phone` (v1), "" when none, None when absent."""
    for key in ("phones", "phone"):
        items = obj.get(key)
        if isinstance(items, str):
            return items.strip()
        if isinstance(items, list):
            chosen = next((p for p in items if isinstance(p, dict) and p.get("primary")), None)
            chosen = chosen or (items[0] if items else None)
            value = chosen.get("value") if isinstance(chosen, dict) else chosen
            return value.strip() if isinstance(value, str) else ""
    return None


def label_ids(obj: dict[str, Any]) -> set[int] | None:
    """`label_ids` (API v2): the person's labels. A single `label` (v1, v2 webhooks) is only the
    first of them, so without `label_ids` the set is unknown: None, and the sync rules read the
    person (sync/rules/gate.py) instead of taking the first label for all of them."""
    ids = obj.get("label_ids")
    if isinstance(ids, list):
        return {n for i in ids if (n := parse_id(i)) is not None}
    return None


MAX_EMAIL = 254  # RFC 5321
NO_AT_NOR_SPACE = re.compile(r"[^@\s]+")


def plausible_email(value: str) -> bool:
    """local@domain with a dot inside the domain. The length is bounded first and the checks
    run in linear time: a hostile address must never stall the event loop (issue #13)."""
    if len(value) > MAX_EMAIL:
        return False
    local, at, domain = value.partition("@")
    return (
        bool(at)
        and NO_AT_NOR_SPACE.fullmatch(local) is not None
        and NO_AT_NOR_SPACE.fullmatch(domain) is not None
        and "." in domain[1:-1]
    )


def person_label(person: Person) -> str:
    name = person.name or f"{person.first_name} {person.last_name}".strip() or "person"
    return f"{name} (#{person.id})"
