"""Whole numbers from untrusted text, for both simulators.

`str.isdigit()` is true for "²" and "٣", which `int()` refuses or reads as 3, and `int()` of
thousands of digits raises: a check of ASCII digits with a bounded length avoids both (the app
has its own `ascii_int`; the simulators must not import the app).
"""

from __future__ import annotations

from typing import Any

MAX_DIGITS = 18


def ascii_int(value: Any, max_digits: int = MAX_DIGITS, signed: bool = False) -> int | None:
    """An int from an int or from a string of 1 to `max_digits` ASCII digits (surrounding
    whitespace allowed; a leading sign when `signed`); None for anything else, bools too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**max_digits and (signed or value >= 0) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    digits = text[1:] if signed and text[:1] in ("+", "-") else text
    if not 0 < len(digits) <= max_digits or not (digits.isascii() and digits.isdigit()):
        return None
    return -int(digits) if text.startswith("-") else int(digits)
