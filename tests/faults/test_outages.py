"""Outages and rate limits: everything is applied after recovery, without a busy loop."""

from __future__ import annotations

import pytest

from tests.harness import Harness
from tests.waiting import let_time_pass


def test_maileon_outage_then_recovery_applies_everything(harness: Harness) -> None:
    harness.setup_company()
    harness.ml("POST", "/_sim/down", json={"down": True})
    for i in range(20):
        harness.create_person(name=f"Out Age{i}", email=f"outage{i}@example.com")
    harness.pd("POST", "/_sim/idle?timeout=10")
    let_time_pass(2)  # the window in which attempts are counted
    during = harness.maileon.faults.answered
    harness.ml("POST", "/_sim/down", json={"down": False})
    harness.settle(timeout=60)
    assert sum(e.startswith("outage") for e in harness.contacts()) == 20
    # Exponential backoff: 20 jobs over ~2 s cost a bounded number of attempts, not a spin.
    assert during < 20 * 8


@pytest.mark.slow
def test_a_429_storm_with_retry_after_is_waited_out(harness: Harness) -> None:
    harness.setup_company()
    harness.ml(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/1.0/contacts", "status": 429, "count": 1000, "retry_after": 1},
    )
    for i in range(20):
        harness.create_person(name=f"Storm {i}", email=f"storm{i}@example.com")
    harness.pd("POST", "/_sim/idle?timeout=10")
    let_time_pass(2.5)  # the window in which attempts are counted
    answered = harness.maileon.faults.answered
    harness.ml("POST", "/_sim/reset_faults")
    harness.settle(timeout=60)
    assert sum(e.startswith("storm") for e in harness.contacts()) == 20
    # The first concurrent wave meets the 429; after that the company pauses for Retry-After
    # and one call probes each second, instead of every job hammering Maileon.
    assert answered <= 8 + 4


def test_pipedrive_429_during_work_is_retried(harness: Harness) -> None:
    harness.setup_company()
    org = harness.pd("POST", "/_sim/organizations", json={"company_id": 1001, "name": "Slow"})
    harness.pd(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/api/v2/organizations", "status": 429, "count": 3, "retry_after": 1},
    )
    harness.create_person(name="Rate Limited", email="rl@example.com", org_id=org["id"])
    harness.settle(timeout=30)
    contact = harness.contacts()["rl@example.com"]
    assert contact["standard_fields"]["ORGANIZATION"] == "Slow"
