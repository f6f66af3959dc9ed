"""Recovery by itself (issue #26, item 3): what failed because Maileon refused the key, or
because a service did not answer for hours, is sent again by itself once the cause is gone,
without anyone finding "Retry all failed"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import running_harness
from tests.harness import MAILEON_KEY, Harness
from tests.integration.test_sync_health import card
from tests.waiting import wait_until

NEW_KEY = "fresh-maileon-key-0002"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE"]


def test_a_failure_from_a_revoked_key_clears_by_itself_after_a_valid_key_is_saved(
    harness: Harness,
) -> None:
    client = harness.setup_company()
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Fay Fail", email="fay@example.com")
    harness.settle()
    assert "Fay Fail → Maileon Failed" in card(harness, client, "?log=failed")
    assert "fay@example.com" not in harness.contacts()

    harness.ml(
        "POST", "/_sim/keys", json={"key": NEW_KEY, "account": "demo", "methods": ALL_METHODS}
    )
    r = harness.save_settings(client, maileon_api_key=NEW_KEY, contacts_sync=True)
    assert r.status_code == 200 and "Settings saved" in r.text
    harness.settle()
    assert "fay@example.com" in harness.contacts()  # nobody pressed Retry
    assert "No failures." in card(harness, client, "?log=failed")
    assert "Fay Fail → Maileon Done" in card(harness, client)


def test_a_key_maileon_accepts_again_retries_what_failed_for_it(harness: Harness) -> None:
    client = harness.setup_company()
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Fay Fail", email="fay@example.com")
    harness.settle()
    assert "rejected by Maileon" in card(harness, client)
    # the same key works again in Maileon (re-enabled there); the next change proves it
    harness.ml(
        "POST", "/_sim/keys", json={"key": MAILEON_KEY, "account": "demo", "methods": ALL_METHODS}
    )
    harness.create_person(name="Nat Next", email="nat@example.com")
    harness.settle()
    assert {"fay@example.com", "nat@example.com"} <= set(harness.contacts())
    assert "No failures." in card(harness, client, "?log=failed")


@pytest.fixture
def quick_giving_up(tmp_path: Path) -> Iterator[Harness]:
    """Retries so fast that a change gives up (20 attempts) within a second of an outage."""
    with running_harness(tmp_path, backoff_scale=0.0001) as h:
        yield h


def test_changes_that_gave_up_during_an_outage_go_once_the_service_answers(
    quick_giving_up: Harness,
) -> None:
    harness = quick_giving_up
    client = harness.setup_company()
    harness.ml("POST", "/_sim/down", json={"down": True})
    harness.create_person(name="Olga Outage", email="olga@example.com")
    wait_until(lambda: "gave up after" in card(harness, client, "?log=failed"), timeout=30)
    harness.ml("POST", "/_sim/down", json={"down": False})
    harness.create_person(name="Bea Back", email="bea@example.com")  # Maileon answers again
    harness.settle()
    wait_until(lambda: "olga@example.com" in harness.contacts())
    assert "No failures." in card(harness, client, "?log=failed")
