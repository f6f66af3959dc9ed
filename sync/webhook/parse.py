"""Parse just enough of a Pipedrive webhook (v2 or v1) to store it and route it to a job.

No API calls here: this runs on the webhook's request path.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clients.digits import ascii_int

V1_ACTIONS = {"added": "create", "updated": "change", "merged": "change", "deleted": "delete"}
V2_ACTIONS = {"create", "change", "delete"}
OBJECTS = {"person", "deal", "organization"}


class BadPayload(ValueError):
    """The body is not a Pipedrive webhook we understand; answered with 400."""


@dataclass
class PipedriveEvent:
    version: int
    entity: str  # person | deal | organization
    entity_id: str
    action: str  # create | change | delete
    dedupe_key: str
    current: dict[str, Any] | None
    previous: dict[str, Any] | None
    update_time: str  # normalized ISO-8601 UTC, '' when unknown
    merged_to_id: int | None
    merged_from_id: int | None
    company_id: int
    user_id: int | None
    raw_action: str


def parse_pipedrive(body: Any) -> PipedriveEvent:
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise BadPayload("expected a JSON object with a 'meta' object")
    meta = body["meta"]
    if str(meta.get("version", "")).startswith("2") and "v" not in body:
        return _parse_v2(body, meta)
    if body.get("v") == 1 or meta.get("v") == 1:
        return _parse_v1(body, meta)
    raise BadPayload("unknown webhook version")


MAX_ID = 2**53  # Pipedrive ids fit JavaScript's safe integers; SQLite needs < 2**63


def parse_id(value: Any) -> int | None:
    """A positive id from untrusted input (int or digit string), or None."""
    if value is None or isinstance(value, bool):  # None: the usual absent id, no exception
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    number = ascii_int(value, 16)
    return number if number is not None and 0 < number < MAX_ID else None


def ref_id(value: Any) -> int | None:
    """A reference to another object: a plain id (v2) or a v1/API v1 object with `value`
    (`{"value": 5, "name": …}`); None when absent or not an id."""
    if isinstance(value, dict):
        value = value.get("value") or value.get("id")
    return parse_id(value)


def _int(value: Any, what: str) -> int:
    number = parse_id(value)
    if number is None:
        raise BadPayload(f"{what} must be a positive number")
    return number


def _opt_int(*values: Any) -> int | None:
    for value in values:
        number = parse_id(value)
        if number is not None:
            return number
    return None


def _obj(value: Any, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]  # v1 'user' events wrap the object in a list
    if not isinstance(value, dict):
        raise BadPayload(f"{what} must be an object or null")
    return value


def _parse_v2(body: dict[str, Any], meta: dict[str, Any]) -> PipedriveEvent:
    action = str(meta.get("action", ""))
    entity = str(meta.get("entity", ""))
    if action not in V2_ACTIONS:
        raise BadPayload(f"unsupported action {action!r}")
    event_id = str(meta.get("id", "")).strip()
    if not event_id:
        raise BadPayload("meta.id is missing")
    current = _obj(body.get("data"), "data")
    previous = _obj(body.get("previous"), "previous")
    obj = current or previous or {}
    entity_id = str(meta.get("entity_id") or obj.get("id") or "")
    if not entity_id:
        raise BadPayload("meta.entity_id is missing")
    return PipedriveEvent(
        version=2,
        entity=entity,
        entity_id=str(_int(entity_id, "meta.entity_id")),
        action=action,
        dedupe_key=f"pd2:{event_id}",
        current=current,
        previous=previous,
        update_time=normalize_time((current or {}).get("update_time") or meta.get("timestamp")),
        merged_to_id=_opt_int(
            meta.get("merged_to_id"),
            (previous or {}).get("merged_to_id"),
            (current or {}).get("merged_to_id"),
        ),
        merged_from_id=_opt_int(meta.get("merged_from_id"), (current or {}).get("merged_from_id")),
        company_id=_int(meta.get("company_id"), "meta.company_id"),
        user_id=_opt_int(meta.get("user_id")),
        raw_action=action,
    )


def _parse_v1(body: dict[str, Any], meta: dict[str, Any]) -> PipedriveEvent:
    raw_action = str(meta.get("action", ""))
    if raw_action not in V1_ACTIONS:
        raise BadPayload(f"unsupported action {raw_action!r}")
    entity = str(meta.get("object", ""))
    current = _obj(body.get("current"), "current")
    previous = _obj(body.get("previous"), "previous")
    obj = current or previous or {}
    entity_id = meta.get("id") or obj.get("id")
    if entity_id in (None, ""):
        raise BadPayload("meta.id is missing")
    company_id = _int(meta.get("company_id"), "meta.company_id")
    stamp = meta.get("timestamp_micro") or meta.get("timestamp") or ""
    digest = hashlib.sha256(
        json.dumps([company_id, entity, str(entity_id), raw_action, str(stamp)]).encode()
    ).hexdigest()
    merged_to = _opt_int(obj.get("merge_what_id")) if raw_action == "deleted" else None
    return PipedriveEvent(
        version=1,
        entity=entity,
        entity_id=str(_int(entity_id, "meta.id")),
        action=V1_ACTIONS[raw_action],
        dedupe_key=f"pd1:{digest}",
        current=current,
        previous=previous,
        update_time=normalize_time((current or {}).get("update_time") or meta.get("timestamp")),
        merged_to_id=merged_to,
        merged_from_id=_opt_int((current or {}).get("merge_what_id"))
        if raw_action == "merged"
        else None,
        company_id=company_id,
        user_id=_opt_int(meta.get("user_id")),
        raw_action=raw_action,
    )


# What Pipedrive v2 sends: whole seconds in UTC. Taken apart by hand (a webhook's hot path);
# the calendar is checked by datetime below for everything else.
PLAIN_UTC = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T"
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)Z",
    re.ASCII,
)


def normalize_time(value: Any) -> str:
    """RFC 3339, v1 'YYYY-MM-DD HH:MM:SS' (UTC) or epoch seconds → 'YYYY-MM-DDTHH:MM:SS.ffffffZ'."""
    if value in (None, ""):
        return ""
    if isinstance(value, str) and len(value) == 20:
        plain = PLAIN_UTC.fullmatch(value)
        if plain and int(value[8:10]) <= 28:  # days 29-31 need the calendar
            return plain.group(1) + ".000000Z"
    try:
        if isinstance(value, int | float) or ascii_int(value) is not None:
            stamp = float(value)
            if stamp > 1e12:  # milliseconds or microseconds
                stamp /= 1e6 if stamp > 1e15 else 1e3
            parsed = datetime.fromtimestamp(stamp, UTC)
        else:
            text = str(value).strip().replace(" ", "T")
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
