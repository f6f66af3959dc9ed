"""Fair leasing: a change of one company is applied while another company's large backlog is
still draining, not after it (order of the writes Maileon received).

New contacts go to Maileon in batches of up to 100, one call in flight per company, and a
company holds at most about two batches' worth of jobs in the worker. So the order is counted
in calls, and the backlog is larger than what the worker holds: part of it must still be
queued when the other company's change arrives."""

from __future__ import annotations

import pytest

from tests.harness import MAILEON_KEY, Harness, contact_writes
from tests.waiting import wait_until
from tests.webhooks import credentials, deliver, deliver_all, person_v2

GLOBEX, GLOBEX_ADMIN = 2002, 601
BACKLOG = 600


def written_emails(harness: Harness) -> list[str]:
    """Addresses in the order Maileon accepted their writes (a batch's in its own order)."""
    return [email for _, emails in contact_writes(harness) for email in emails]


@pytest.mark.slow
def test_another_companys_backlog_does_not_delay_a_change(harness: Harness) -> None:
    harness.setup_company()
    client = harness.install(user_id=GLOBEX_ADMIN)
    saved = harness.save_settings(client, maileon_api_key=MAILEON_KEY, contacts_sync=True)
    assert saved.status_code == 200 and "Settings saved" in saved.text
    acme, globex = credentials(harness), credentials(harness, GLOBEX)
    harness.settle()

    harness.ml("POST", "/_sim/latency", json={"ms": 150})  # Acme's backlog takes seconds
    # A 429 with Retry-After pauses Acme's Maileon calls: the whole backlog is queued first.
    harness.ml(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/1.0/contacts", "status": 429, "count": 1, "retry_after": 5},
    )
    backlog = [
        person_v2(5000 + n, "create", name=f"Acme Person{n}", email=f"acme{n}@example.com")
        for n in range(BACKLOG)
    ]
    answers = deliver_all(harness, backlog, acme)
    assert all(a.status_code == 200 for a in answers)
    wait_until(lambda: len(written_emails(harness)) >= 1, timeout=20)  # draining now

    change = person_v2(
        7000,
        "create",
        name="Gina Globex",
        email="gina@globex.test",
        meta={"company_id": str(GLOBEX), "user_id": str(GLOBEX_ADMIN)},
    )
    calls_before = len(contact_writes(harness))
    assert deliver(harness, change, globex).status_code == 200
    harness.settle(timeout=60)
    harness.ml("POST", "/_sim/latency", json={"ms": 0})

    assert len(written_emails(harness)) == BACKLOG + 1
    calls = [emails for _, emails in contact_writes(harness)]
    gina = next(n for n, emails in enumerate(calls) if "gina@globex.test" in emails)
    # Applied within the Acme calls already under way when it arrived (one in flight, one
    # filling), not after the backlog: Acme still had writes to come.
    assert gina - calls_before <= 3, [len(c) for c in calls]
    acme_after = sum(len(c) for c in calls[gina + 1 :])
    assert acme_after > 0, [len(c) for c in calls]
