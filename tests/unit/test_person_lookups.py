"""Looking persons up by address (a rule run's removals, Maileon's unsubscribe events) costs
the same with many persons stored: an index, not a scan of every person."""

from __future__ import annotations

import time

from store import people
from store.db import Store
from store.people import PersonState

PERSONS = 30_000
LOOKUPS = 300


def test_lookups_by_address_stay_fast_with_many_persons(store: Store) -> None:
    with store.tx() as db:
        people.save_all(
            db,
            [
                PersonState(1, n, email=f"Person{n}@Example.test", maileon_state="none")
                for n in range(1, PERSONS + 1)
            ],
        )
    started = time.perf_counter()
    for n in range(1, LOOKUPS + 1):
        found = people.by_email(store, 1, f"person{n * 7}@example.TEST")
        assert [s.person_id for s in found] == [n * 7]
        assert not people.others_with_email(store, 1, n * 7, f"person{n * 7}@example.test")
    per_lookup_ms = (time.perf_counter() - started) / (2 * LOOKUPS) * 1000
    # a scan of 30,000 persons takes milliseconds per lookup; the index tens of microseconds
    assert per_lookup_ms < 1.0, f"{per_lookup_ms:.2f} ms per lookup"
