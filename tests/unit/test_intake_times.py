"""The webhook's update_time: the hand-parsed common form agrees with the calendar's answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync.webhook.parse import normalize_time


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-27T09:00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-12-31T23:59:59Z",
        "2024-02-29T12:00:00Z",
        "2026-02-28T00:00:01Z",
    ],
)
def test_plain_utc_times_match_the_calendar(value: str) -> None:
    expected = datetime.fromisoformat(value[:-1] + "+00:00").astimezone(UTC)
    assert normalize_time(value) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30T09:00:00Z",
        "2025-02-29T09:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-31T00:00:00Z",
    ],
)
def test_impossible_dates_are_unknown(value: str) -> None:
    assert normalize_time(value) == ""
