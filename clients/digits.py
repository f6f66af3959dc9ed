"""Numbers from untrusted text (issue #22): only ASCII digits, and only so many of them.

`str.isdigit()` is true for "²", "٣" and a 5,000-digit string; `int()` then raises, or reads a
non-ASCII digit as a number, or spends its time on a huge one. Every id, count and header the
app reads from a request or an answer goes through `ascii_int` instead."""

from __future__ import annotations

from typing import Any


def ascii_int(value: Any, max_digits: int = 18) -> int | None:
    """A non-negative int from an int or from a string of 1 to `max_digits` ASCII digits
    (surrounding whitespace allowed); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**max_digits else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not 0 < len(text) <= max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
