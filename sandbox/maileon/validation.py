"""Value checks for standard/custom contact fields and transaction attributes."""

from __future__ import annotations

import math
import re
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


def custom_value(ftype: str, name: str, value: Any) -> Any:
    """The stored (typed) value of custom field `name`, or ApiError(400)."""

    def bad(why: str) -> ApiError:
        return ApiError(400, f"invalid value for custom field {name} ({ftype}): {why}")

    if value is None:
        raise bad('must not be null (use "" to clear)')
    if value == "":
        return None
    if isinstance(value, dict | list):
        raise bad("must be a plain value")
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad("allowed values are true and false")
    if ftype == "integer":
        if isinstance(value, bool):
            raise bad("not an integer")
        if isinstance(value, int) or (isinstance(value, str) and INT_RE.match(value.strip())):
            integer = int(value)
            if not INT32[0] <= integer <= INT32[1]:
                raise bad("out of 32-bit range")
            return integer
        raise bad("not an integer")
    if ftype == "float":
        if isinstance(value, bool):
            raise bad("not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("not a number") from None
        if not math.isfinite(number):
            raise bad("not a finite number")
        return number
    if ftype == "date":
        text = str(value).strip()
        if valid_date(text):
            return text
        if valid_date(text, True):
            return text[:10]  # time part accepted but dropped
        raise bad("must match yyyy-MM-dd")
    text = xml_text(value)
    if len(text) > 255:
        raise bad("must not exceed 255 characters")
    return text


def attribute_error(attr: TxAttribute, value: Any, store_only: bool) -> str | None:
    t = attr.type
    if t == "json":
        return None
    if t == "integer":
        if isinstance(value, bool):
            return f"attribute {attr.name} must be an integer"
        if isinstance(value, int) or (isinstance(value, str) and INT_RE.match(value.strip())):
            return (
                None
                if INT32[0] <= int(value) <= INT32[1]
                else (f"attribute {attr.name} is out of 32-bit range")
            )
        return f"attribute {attr.name} must be an integer"
    if t in ("double", "float"):
        if isinstance(value, bool | dict | list):
            return f"attribute {attr.name} must be a number"
        try:
            float(value)
        except (TypeError, ValueError):
            return f"attribute {attr.name} must be a number"
        return None
    if t == "boolean":
        if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false")):
            return None
        return f"attribute {attr.name} must be true or false"
    if t == "date":
        ok = isinstance(value, str) and valid_date(value)
        return None if ok else f"attribute {attr.name} must match yyyy-mm-dd"
    if t == "timestamp":
        ok = isinstance(value, str) and valid_date(value, True)
        return None if ok else f"attribute {attr.name} must match yyyy-mm-dd hh:mm:ss"
    # string
    if isinstance(value, bool | dict | list):
        return f"attribute {attr.name} must be a string"
    limit = 64000 if store_only else 1000
    if len(str(value)) > limit:
        return f"attribute {attr.name} must not exceed {limit} characters"
    return None
