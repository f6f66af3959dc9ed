"""Debounce of webhook changes: a burst of edits to a person, delivered while the worker runs,
reaches Maileon as one write with the latest data; a later, isolated change gets its own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import running_harness
from tests.harness import Harness, writes_of
from tests.waiting import wait_until
from tests.webhooks import credentials, deliver, person_v2

EMAIL = "debounce@example.com"


def contact_writes(harness: Harness, email: str) -> int:
    return len(writes_of(harness, email))


def fullname(harness: Harness, email: str) -> str | None:
    contact = harness.contacts().get(email)
    return contact["standard_fields"].get("FULLNAME") if contact else None


@pytest.mark.slow
def test_a_burst_of_edits_costs_one_maileon_write(tmp_path: Path) -> None:
    # A window far longer than the burst takes to deliver, so the order of events, not the
    # machine's speed, decides: every edit lands while the first one still waits.
    with running_harness(tmp_path, debounce_seconds=4.0, debounce_max_seconds=30.0) as harness:
        harness.setup_company()
        auth = credentials(harness)
        for version in range(8):
            answer = deliver(
                harness,
                person_v2(
                    4242,
                    "create" if version == 0 else "change",
                    name=f"Dee Bounce{version}",
                    email=EMAIL,
                    seconds=version,
                ),
                auth,
            )
            assert answer.status_code == 200
        assert contact_writes(harness, EMAIL) == 0  # still waiting for the burst to end
        wait_until(lambda: fullname(harness, EMAIL) == "Dee Bounce7", timeout=20)
        harness.settle()
        assert contact_writes(harness, EMAIL) == 1

        deliver(harness, person_v2(4242, "change", name="Dee Later", email=EMAIL, seconds=60), auth)
        wait_until(lambda: fullname(harness, EMAIL) == "Dee Later", timeout=20)
        assert contact_writes(harness, EMAIL) == 2


@pytest.mark.slow
def test_the_maximum_wait_syncs_a_person_edited_without_pause(tmp_path: Path) -> None:
    """Edits keep arriving inside the window: the maximum wait still lets one through."""
    with running_harness(tmp_path, debounce_seconds=4.0, debounce_max_seconds=5.0) as harness:
        harness.setup_company()
        auth = credentials(harness)
        deliver(
            harness, person_v2(4243, "create", name="Busy First", email="busy@example.com"), auth
        )
        version = 0
        deadline = time.monotonic() + 60
        while fullname(harness, "busy@example.com") is None:
            assert time.monotonic() < deadline, "the edits never reached Maileon"
            version += 1
            started = time.monotonic()
            deliver(
                harness,
                person_v2(
                    4243,
                    "change",
                    name=f"Busy Edit{version}",
                    email="busy@example.com",
                    seconds=version,
                ),
                auth,
            )
            # the next edit always comes well inside the 4 s window
            assert time.monotonic() - started < 3.0
        # It got through while edits kept coming closer together than the window; the burst
        # still coalesced (fewer writes than edits).
        assert contact_writes(harness, "busy@example.com") < version + 1
