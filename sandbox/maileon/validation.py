"""Value checks for standard/custom contact fields and transaction attributes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from sandbox.maileon.model import (
    INT32,
    INT_RE,
    READONLY_STANDARD,
    STANDARD_FIELDS,
    SYNC_FIELD_CODES,
    ApiError,
    TxAttribute,
    valid_date,
)
from sandbox.maileon.xmlio import xml_text


def std_field_error(name: str, value: Any) -> tuple[int, str] | None:
    """(synchronize error code, message) when a standard field value is not acceptable."""
    if name in READONLY_STANDARD:
        return 22, f"standard field {name} is read-only"
    if name not in STANDARD_FIELDS:
        return 22, f"unknown standard field {name}"
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        return SYNC_FIELD_CODES.get(name, 22), f"standard field {name} must be a plain value"
    text = xml_text(value)
    code = SYNC_FIELD_CODES.get(name, 22)
    if len(text) > 255:
        return code, f"value of standard field {name} must not exceed 255 characters"
    if name in ("BIRTHDAY", "NAMEDAY") and not (valid_date(text) or valid_date(text, True)):
        return code, f"value of standard field {name} must match yyyy-mm-dd or yyyy-mm-dd hh:mm:ss"
    if name == "GENDER" and text not in ("m", "f", "d"):
        return code, "value of standard field GENDER must be m, f or d"
    if name == "LOCALE" and not re.match(r"^[a-z]{2}(_[A-Z]{2})?$", text):
        return code, "value of standard field LOCALE must match xx or xx_XX"
    return None


class _Invalid(Exception):
    """Why a value does not fit its field; the caller words the refusal."""


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _Invalid("allowed values are true and false")


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise _Invalid("not an integer")
    if isinstance(value, int) or (isinstance(value, str) and INT_RE.match(value.strip())):
        integer = int(value)
        if not INT32[0] <= integer <= INT32[1]:
            raise _Invalid("out of 32-bit range")
        return integer
    raise _Invalid("not an integer")


def _float(value: Any) -> Any:
    if isinstance(value, bool):
        raise _Invalid("not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Invalid("not a number") from None
    if not math.isfinite(number):
        raise _Invalid("not a finite number")
    return number


def _date(value: Any) -> Any:
    text = str(value).strip()
    if valid_date(text):
        return text
    if valid_date(text, True):
        return text[:10]  # time part accepted but dropped
    raise _Invalid("must match yyyy-MM-dd")


def _string(value: Any) -> Any:
    text = xml_text(value)
    if len(text) > 255:
        raise _Invalid("must not exceed 255 characters")
    return text


# A custom field's type -> its stored value (any other type is a string)
CUSTOM_VALUES: dict[str, Callable[[Any], Any]] = {
    "boolean": _boolean,
    "integer": _integer,
    "float": _float,
    "date": _date,
}


def custom_value(ftype: str, name: str, value: Any) -> Any:
    """The stored (typed) value of custom field `name` ("" clears it), or ApiError(400)."""
    try:
        if value is None:
            raise _Invalid('must not be null (use "" to clear)')
        if value == "":
            return None
        if isinstance(value, dict | list):
            raise _Invalid("must be a plain value")
        return CUSTOM_VALUES.get(ftype, _string)(value)
    except _Invalid as why:
        raise ApiError(400, f"invalid value for custom field {name} ({ftype}): {why}") from None


def _integer_problem(value: Any, store_only: bool) -> str | None:
    if isinstance(value, bool):
        return "must be an integer"
    if isinstance(value, int) or (isinstance(value, str) and INT_RE.match(value.strip())):
        return None if INT32[0] <= int(value) <= INT32[1] else "is out of 32-bit range"
    return "must be an integer"


def _number_problem(value: Any, store_only: bool) -> str | None:
    if isinstance(value, bool | dict | list):
        return "must be a number"
    try:
        float(value)
    except (TypeError, ValueError):
        return "must be a number"
    return None


def _boolean_problem(value: Any, store_only: bool) -> str | None:
    if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false")):
        return None
    return "must be true or false"


def _date_problem(value: Any, store_only: bool) -> str | None:
    ok = isinstance(value, str) and valid_date(value)
    return None if ok else "must match yyyy-mm-dd"


def _timestamp_problem(value: Any, store_only: bool) -> str | None:
    ok = isinstance(value, str) and valid_date(value, True)
    return None if ok else "must match yyyy-mm-dd hh:mm:ss"


def _string_problem(value: Any, store_only: bool) -> str | None:
    """A string of at most 1000 characters, 64000 in a store-only type."""
    if isinstance(value, bool | dict | list):
        return "must be a string"
    limit = 64000 if store_only else 1000
    if len(str(value)) > limit:
        return f"must not exceed {limit} characters"
    return None


# A transaction attribute's type -> what is wrong with a value (any other type is a string)
ATTRIBUTE_PROBLEMS: dict[str, Callable[[Any, bool], str | None]] = {
    "json": lambda value, store_only: None,
    "integer": _integer_problem,
    "double": _number_problem,
    "float": _number_problem,
    "boolean": _boolean_problem,
    "date": _date_problem,
    "timestamp": _timestamp_problem,
}


def attribute_error(attr: TxAttribute, value: Any, store_only: bool) -> str | None:
    """What is wrong with a transaction attribute's value, None when it fits its type."""
    problem = ATTRIBUTE_PROBLEMS.get(attr.type, _string_problem)(value, store_only)
    return None if problem is None else f"attribute {attr.name} {problem}"
