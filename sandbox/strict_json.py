"""JSON as strict parsers read it (Jackson, Pipedrive's): Python's `json` also takes NaN,
Infinity and -Infinity, reads 1e400 as infinity and raises RecursionError on deep nesting."""

from __future__ import annotations

import json
import math
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def loads(raw: str | bytes) -> Any:
    """`json.loads`, refusing what a strict parser refuses; every refusal is a ValueError."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None
