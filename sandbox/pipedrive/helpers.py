"""Small pure helpers: times, field keys, URLs, cursors, parameter parsing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from sandbox import strict_json
from sandbox.digits import ascii_int
from sandbox.pipedrive.model import ApiError

YMD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def fail(status: int, message: str) -> ApiError:
    """The error answer Pipedrive gives: `{"success": false, "error": …, "errorCode": …}`."""
    return ApiError(status, {"success": False, "error": message, "errorCode": status})


def plain_copy(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, scalars) to hand out, ~10x cheaper than
    `copy.deepcopy` (a page renders 500 persons' emails, phones and custom values)."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def v1_time(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else None


def iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str, name: str) -> datetime:
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+01:00
        raise fail(400, f"Validation failed: {name}: Invalid RFC3339 date-time") from None


def is_ymd(value: Any) -> bool:
    """A real date written YYYY-MM-DD (Python 3.11's `date.fromisoformat` also takes
    "20260131" and "2026-W05-6", which Pipedrive refuses)."""
    if not isinstance(value, str) or not YMD.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def make_field_key(company_id: int, field_id: int, name: str) -> str:
    return hashlib.sha256(f"{company_id}:{field_id}:{name}".encode()).hexdigest()[:40]


def is_number(value: Any) -> bool:
    """An int or a finite float (a v1 string "1e999" reads as infinity, JSON has none)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """v2 `previous` of a change: only the changed fields with old values (+ update_time)."""
    prev: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if key == "custom_fields" and isinstance(old, dict) and isinstance(new, dict):
            changed = {k: v for k, v in old.items() if new.get(k) != v}
            changed.update({k: None for k in new if k not in old and new[k] is not None})
            if changed:
                prev["custom_fields"] = changed
        elif old != new:
            prev[key] = old
    prev["update_time"] = before.get("update_time")
    return prev


def oauth_error(status: int, message: str, error: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, "error": error}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = strict_json.loads(raw)
    except ValueError:
        raise fail(400, "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise fail(400, "JSON body must be an object")
    return body


def int_param(value: Any, name: str, default: int) -> int:
    """A whole number from a query parameter or a JSON value ("" or None: `default`)."""
    if value is None or value == "":
        return default
    number = ascii_int(value, signed=True)
    if number is None:
        raise fail(400, f"Validation failed: {name}: must be an integer")
    return number


def encode_cursor(values: list[int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, RecursionError):
        raise fail(400, "Invalid cursor") from None
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    ):
        raise fail(400, "Invalid cursor")
    return values
