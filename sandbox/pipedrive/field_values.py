"""Custom field values as Pipedrive takes them: one coercer per field type, in a table.

`strict` is API v2 (typed JSON only); v1 also takes strings ("12", "1,2") and "" for no value.
A refusal is a 400 naming the field: `Validation failed: custom_fields.<key>: <why>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.digits import ascii_int
from sandbox.pipedrive.helpers import fail, is_number, is_ymd
from sandbox.pipedrive.model import ID_TYPES


class _Invalid(Exception):
    """Why a value does not fit its field; turned into the 400 that names the field."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _digits_to_int(value: Any, strict: bool) -> Any:
    """v1 takes an id as a string of (ASCII) digits too; anything else stays as it came."""
    if not strict and isinstance(value, str):
        number = ascii_int(value)
        return value if number is None else number
    return value


def _enum(value: Any, field: dict[str, Any], strict: bool) -> Any:
    value = _digits_to_int(value, strict)
    if not _is_int(value):
        raise _Invalid("must be an option id (number)")
    if value not in _option_ids(field):
        raise _Invalid(f"option id {value} does not exist")
    return value


def _set(value: Any, field: dict[str, Any], strict: bool) -> Any:
    if not strict and isinstance(value, str | int):
        value = [v for v in str(value).split(",") if v.strip()]
    if not isinstance(value, list):
        raise _Invalid("must be an array of option ids")
    option_ids = _option_ids(field)
    out: list[int] = []
    for item in value:
        item = _digits_to_int(item, strict)
        if not _is_int(item):
            raise _Invalid("must be an array of option ids (numbers)")
        if item not in option_ids:
            raise _Invalid(f"option id {item} does not exist")
        if item not in out:
            out.append(item)
    return out or None


def _double(value: Any, field: dict[str, Any], strict: bool) -> Any:
    if not strict and isinstance(value, str):
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            raise _Invalid("must be a number") from None
    if not is_number(value):
        raise _Invalid("must be a number")
    return value


def _monetary(value: Any, field: dict[str, Any], strict: bool) -> Any:
    if isinstance(value, dict):
        amount, currency = value.get("value"), value.get("currency") or "EUR"
    else:
        amount, currency = value, "EUR"
    if not strict and isinstance(amount, str):
        try:
            amount = float(amount)
        except ValueError:
            raise _Invalid("value must be a number") from None
    if not is_number(amount):
        raise _Invalid("value must be a number")
    return {"value": amount, "currency": str(currency)}


def _date(value: Any, field: dict[str, Any], strict: bool) -> Any:
    if not is_ymd(value):
        raise _Invalid("must be a date YYYY-MM-DD")
    return value


def _address(value: Any, field: dict[str, Any], strict: bool) -> Any:
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return {k: v for k, v in value.items() if k != "type"}
    raise _Invalid("must be an address string or object with value")


def _daterange(value: Any, field: dict[str, Any], strict: bool) -> Any:
    if isinstance(value, dict):
        return {"value": value.get("value"), "until": value.get("until")}
    raise _Invalid("must be an object with value and until")


def _id(value: Any, field: dict[str, Any], strict: bool) -> Any:
    """A user, organization or person field holds an id (v1: digits in a string too)."""
    value = _digits_to_int(value, strict)
    if not _is_int(value):
        raise _Invalid("must be an id (number)")
    return value


def _text(value: Any, field: dict[str, Any], strict: bool) -> Any:
    """Text, phone, time and every other type: a string (v1 turns anything into one)."""
    if not isinstance(value, str):
        if strict:
            raise _Invalid("must be a string")
        value = str(value)
    return value


Coercer = Callable[[Any, dict[str, Any], bool], Any]
COERCERS: dict[str, Coercer] = {
    "enum": _enum,
    "set": _set,
    "double": _double,
    "monetary": _monetary,
    "date": _date,
    "address": _address,
    "daterange": _daterange,
    **dict.fromkeys(ID_TYPES, _id),
}


def _option_ids(field: dict[str, Any]) -> set[Any]:
    return {o["id"] for o in field["options"] or []}


def coerce_custom_value(field: dict[str, Any], value: Any, strict: bool) -> Any:
    """The value to store for `field` (None: clear it), or a 400 naming the field."""
    if value is None or (not strict and value == ""):
        return None
    coercer = COERCERS.get(field["field_type"], _text)
    try:
        return coercer(value, field, strict)
    except _Invalid as why:
        raise fail(400, f"Validation failed: custom_fields.{field['key']}: {why}") from None
