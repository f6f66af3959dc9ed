"""Issue #22, item 9: only bounded ASCII digits are numbers. "²" passes str.isdigit() but int()
raises; "١٢" passes both and reads as 12; 5,000 digits pass isdigit() and int() refuses them.
Each of these, from a header, an answer or a webhook, is "not a number", never an exception."""

from __future__ import annotations

import httpx
import pytest

from clients.digits import ascii_int
from clients.http import retry_after_seconds
from sync.persons.fields import PersonField, plain_value
from sync.webhook.parse import parse_id

HOSTILE = ["\u00b2", "\u0661\u0662", "9" * 5000, "", " ", "-1", "1.5", "0x10", "\uff11\uff12"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_digit_strings_are_not_numbers(text: str) -> None:
    assert ascii_int(text) is None
    assert parse_id(text) is None


def test_plain_digits_are() -> None:
    assert ascii_int(" 42 ") == 42 and ascii_int(7) == 7 and ascii_int(True) is None
    assert ascii_int("9" * 18) == int("9" * 18) and ascii_int("9" * 19) is None
    assert parse_id("12") == 12 and parse_id(12.0) == 12 and parse_id("0") is None


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_headers_and_option_ids_raise_nothing(text: str) -> None:
    raw = text.encode()  # as the bytes arrive on the wire
    headers = {b"retry-after": raw, b"x-ratelimit-reset": raw}
    wait = retry_after_seconds(httpx.Response(429, headers=headers))
    assert wait is None or wait >= 0
    enum = PersonField("k" * 40, "Tier", "enum", {1: "Gold"}, True)
    assert plain_value(text, enum) == text
    assert plain_value(f"1,{text}", PersonField("s" * 40, "Tags", "set", {}, True)) == [1]
