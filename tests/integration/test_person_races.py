"""A Maileon unsubscribe that arrives while a change of the same person is being synced ends
with the person unsubscribed in Maileon and in Pipedrive, never subscribed again."""

from __future__ import annotations

from tests.harness import Harness
from tests.waiting import wait_until


def test_unsubscribe_during_a_slow_person_sync_is_kept(harness: Harness) -> None:
    harness.setup_company()
    key, options = harness.newsletter_field()
    subscribed, unsubscribed = options["Subscribed"], options["Unsubscribed"]
    person = harness.create_person(
        name="Race Rachel", email="race@example.com", custom_fields={key: subscribed}
    )
    harness.settle()
    harness.ml("POST", "/_sim/latency", json={"ms": 1500})
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"name": "Race Renamed"})
    wait_until(lambda: harness.maileon.faults.in_flight)  # the person job waits on Maileon
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "race@example.com"})
    harness.settle(timeout=30)
    harness.ml("POST", "/_sim/latency", json={"ms": 0})
    harness.settle(timeout=30)

    state = harness.rows(
        "SELECT maileon_state, newsletter FROM persons WHERE person_id=?", (person["id"],)
    )
    assert state == [("unsubscribed", "Unsubscribed")]
    stored = next(p for p in harness.pd("GET", "/_sim/state")["persons"] if p["id"] == person["id"])
    assert stored["custom_fields"][key] == unsubscribed
    contact = harness.contacts().get("race@example.com")
    assert contact is None or contact["unsubscribed"] or contact["permission"] == 1
