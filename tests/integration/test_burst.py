"""A burst of 500 changes to 50 persons, every delivery twice and shuffled: exactly 50 contacts
with each person's latest data, and at most one Maileon call per person in the drain."""

from __future__ import annotations

import random

import pytest

from tests.harness import Harness, contact_writes, writes_of
from tests.waiting import wait_until
from tests.webhooks import burst, credentials, deliver, deliver_all, person_v2

PERSONS, CHANGES = 50, 10


@pytest.mark.slow
def test_burst_is_coalesced_ordered_and_deduplicated(harness: Harness) -> None:
    harness.setup_company()
    auth = credentials(harness)
    events = burst(1000, PERSONS, CHANGES, name="Person", email="burst")
    deliveries = events + events
    random.Random(7).shuffle(deliveries)
    # A 429 with Retry-After pauses all Maileon calls of the company: let a first change hit
    # it, so the whole burst is stored before the drain starts.
    harness.ml(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/1.0/contacts", "status": 429, "count": 1, "retry_after": 10},
    )
    deliver(harness, person_v2(999, "create", name="Canary", email="canary@example.com"))
    wait_for_rate_limit(harness)
    answers = deliver_all(harness, deliveries, auth)
    assert all(a.status_code == 200 for a in answers)
    assert sum(a.json()["duplicate"] for a in answers) == len(events)
    harness.settle(timeout=60)

    contacts = {e: c for e, c in harness.contacts().items() if e.startswith("burst")}
    assert len(contacts) == PERSONS
    for p in range(PERSONS):
        fields = contacts[f"burst{p}@example.com"]["standard_fields"]
        assert fields["FULLNAME"] == f"Person{p} Version{CHANGES - 1}"
    writes = {
        f"burst{p}@example.com": writes_of(harness, f"burst{p}@example.com") for p in range(PERSONS)
    }
    # one write per person: new contacts are created in batches (SYNC), or one by one
    assert all(len(methods) == 1 for methods in writes.values()), writes
    # jobs waiting for a batch give their worker slot to the next jobs, so a batch is not
    # limited to the worker's 8 running jobs (7 calls for 50 persons before)
    batches = [
        emails
        for method, emails in contact_writes(harness)
        if method == "SYNC" and any(e.startswith("burst") for e in emails)
    ]
    assert len(batches) <= 4, [len(b) for b in batches]


def wait_for_rate_limit(harness: Harness) -> None:
    wait_until(
        lambda: harness.rows("SELECT 1 FROM jobs WHERE last_error LIKE '%rate limit%'"), timeout=10
    )
