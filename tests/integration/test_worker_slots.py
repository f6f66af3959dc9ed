"""Jobs that wait for a shared batch give their worker slot back, yet Maileon never sees more
than WORKER_CONCURRENCY of the app's calls at once (plus the one batch call in flight).

The persons are new to the app but their addresses are already in Maileon, so the batch cannot
count as their write: every job goes on to its own update afterwards. Those 40 updates must
queue for the 4 slots, not all go at once."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import running_harness
from tests.harness import contact_writes
from tests.webhooks import credentials, deliver_all, person_v2

PERSONS = 40
CONCURRENCY = 4


def test_calls_after_a_shared_batch_stay_within_the_worker_concurrency(tmp_path: Path) -> None:
    with running_harness(
        tmp_path, worker_concurrency=CONCURRENCY, debounce_seconds=0.5, debounce_max_seconds=2.0
    ) as harness:
        harness.setup_company()
        auth = credentials(harness)
        for p in range(PERSONS):
            harness.ml(
                "POST",
                "/_sim/contacts",
                json={"email": f"known{p}@example.com", "permission": 4},  # DOI
            )
        harness.ml("POST", "/_sim/reset_faults")  # counts from here
        harness.ml("POST", "/_sim/latency", json={"ms": 50})
        persons = [
            person_v2(3000 + p, "create", name=f"Known Person{p}", email=f"known{p}@example.com")
            for p in range(PERSONS)
        ]
        answers = deliver_all(harness, persons, auth)
        assert all(a.status_code == 200 for a in answers)
        harness.settle(timeout=60)
        harness.ml("POST", "/_sim/latency", json={"ms": 0})

        state = harness.ml("GET", "/_sim/state")
        writes = contact_writes(harness)
        batches = [emails for method, emails in writes if method == "SYNC"]
        updates = [emails for method, emails in writes if method == "PUT"]
        assert sum(len(b) for b in batches) == PERSONS  # each person went through a batch
        assert sorted(e for u in updates for e in u) == sorted(
            f"known{p}@example.com" for p in range(PERSONS)
        )  # and then got its own update
        assert state["most_requests_in_flight"] <= CONCURRENCY + 1
        known = {c["email"]: c for c in state["contacts"]}
        assert all(known[f"known{p}@example.com"]["permission"] == 4 for p in range(PERSONS))
