"""Consent is never lowered (issue #12, spec F7, F8, §4 Consent), against a Maileon account
that already has subscribers: every permission an address can have (NONE, SOI, COI, DOI, DOI+,
OTHER) by a data change, a subscribe, an unsubscribe and an import, through the real webhook
endpoint, the worker, the panel and the simulators."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import running_harness
from tests.harness import Harness, contact_writes
from tests.integration.test_contact_rules import option
from tests.integration.test_import import start, wait_for
from tests.integration.test_panel import act, make_token
from tests.webhooks import credentials, deliver, person_v2

NONE, SOI, COI, DOI, DOI_PLUS, OTHER = 1, 2, 3, 4, 5, 6
EVERY_PERMISSION = [NONE, SOI, COI, DOI, DOI_PLUS, OTHER]
EMAIL = "known@example.com"


def existing_contact(harness: Harness, permission: int, email: str = EMAIL) -> None:
    """A contact that was in the customer's Maileon account before the app came."""
    harness.ml(
        "POST",
        "/_sim/contacts",
        json={
            "email": email,
            "permission": permission,
            "created_by": "customer",
            "standard_fields": {"FIRSTNAME": "Old"},
            "custom_fields": {"source": "shop"},
        },
    )


def contact(harness: Harness, email: str = EMAIL) -> dict[str, Any]:
    return harness.contacts()[email]


def permission_changes(harness: Harness, email: str = EMAIL) -> list[dict[str, Any]]:
    return [h for h in contact(harness, email)["history"] if h["event"] == "permission_changed"]


def test_a_batch_of_first_writes_never_touches_the_existing_contacts_in_it(tmp_path: Path) -> None:
    """New persons arriving together are created in synchronize batches; the addresses
    Maileon already had in a batch keep their permission and get only the data."""
    # a debounce longer than the deliveries take: the jobs fall due together and share batches
    with running_harness(tmp_path, debounce_seconds=1.0, debounce_max_seconds=5.0) as harness:
        check_batch(harness)


def check_batch(harness: Harness) -> None:
    harness.setup_company(initial_permission=SOI)
    for n, permission in enumerate(EVERY_PERMISSION):
        existing_contact(harness, permission, f"old{n}@example.com")
    auth = credentials(harness)
    people = [(n, f"old{n}@example.com") for n in range(len(EVERY_PERMISSION))] + [
        (10 + n, f"new{n}@example.com") for n in range(6)
    ]
    with httpx.Client(timeout=20) as http:
        for n, email in people:
            assert (
                deliver(
                    harness,
                    person_v2(7100 + n, "create", name=f"Bea Batch{n}", email=email),
                    auth,
                    http,
                ).status_code
                == 200
            )
    harness.settle()
    batches = [emails for method, emails in contact_writes(harness) if method == "SYNC"]
    assert any(len(b) > 1 and any(e.startswith("old") for e in b) for b in batches), batches
    for n, permission in enumerate(EVERY_PERMISSION):
        old = contact(harness, f"old{n}@example.com")
        assert old["permission"] == permission, (n, old)
        assert old["standard_fields"]["FULLNAME"] == f"Bea Batch{n}"  # the data arrived
        assert "createdByPipedrive" not in old["custom_fields"]
        assert permission_changes(harness, f"old{n}@example.com") == []
    for n in range(6):
        new = contact(harness, f"new{n}@example.com")
        assert new["permission"] == NONE and new["custom_fields"]["createdByPipedrive"] is True
        assert new["standard_fields"]["FULLNAME"] == f"Bea Batch{10 + n}"


@pytest.mark.parametrize("permission", EVERY_PERMISSION)
def test_a_data_sync_keeps_the_permission_of_an_existing_contact(
    harness: Harness, permission: int
) -> None:
    harness.setup_company(initial_permission=SOI)
    existing_contact(harness, permission)
    person = harness.create_person(name="Kim Known", email=EMAIL)
    harness.settle()
    synced = contact(harness)
    assert synced["standard_fields"]["FIRSTNAME"] == "Kim"  # the data arrived …
    assert synced["permission"] == permission
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"name": "Kim Renamed"})
    harness.settle()
    after = contact(harness)
    assert after["standard_fields"]["FIRSTNAME"] == "Kim"
    assert after["standard_fields"]["FULLNAME"] == "Kim Renamed"
    assert after["permission"] == permission  # … the consent did not move
    assert permission_changes(harness) == []
    # a found contact keeps its createdByPipedrive (here: never set) and its other fields
    assert "createdByPipedrive" not in after["custom_fields"]
    assert after["custom_fields"]["source"] == "shop"


@pytest.fixture(params=EVERY_PERMISSION)
def known(request: pytest.FixtureRequest, harness: Harness) -> int:
    permission: int = request.param
    existing_contact(harness, permission)
    return permission


def test_only_a_contact_the_app_creates_gets_none_and_created_by_pipedrive(
    harness: Harness,
) -> None:
    harness.setup_company(initial_permission=SOI)
    existing_contact(harness, SOI)
    harness.create_person(name="Kim Known", email=EMAIL)
    harness.create_person(name="Nia New", email="new@example.com")
    harness.settle()
    new, found = contact(harness, "new@example.com"), contact(harness)
    assert new["permission"] == NONE and new["custom_fields"]["createdByPipedrive"] is True
    assert found["permission"] == SOI and "createdByPipedrive" not in found["custom_fields"]


@pytest.mark.parametrize("permission", EVERY_PERMISSION)
def test_subscribe_without_doi_raises_to_the_initial_permission_and_never_lowers(
    harness: Harness, permission: int
) -> None:
    harness.setup_company(initial_permission=COI)
    existing_contact(harness, permission)
    key, subscribed = option(harness, "Subscribed")
    person = harness.create_person(name="Kim Known", email=EMAIL, custom_fields={key: subscribed})
    harness.settle()
    expected = COI if permission in (NONE, SOI) else permission  # OTHER counts as COI
    assert contact(harness)["permission"] == expected
    assert not contact(harness)["doi_pending"]
    assert harness.newsletter_of(person["id"]) == "Subscribed"


@pytest.mark.parametrize("permission", EVERY_PERMISSION)
def test_subscribe_with_doi_keeps_the_permission_until_confirmed_and_skips_doi_for_doi(
    harness: Harness, permission: int
) -> None:
    harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", initial_permission=DOI)
    existing_contact(harness, permission)
    key, subscribed = option(harness, "Subscribed")
    person = harness.create_person(name="Kim Known", email=EMAIL, custom_fields={key: subscribed})
    harness.settle()
    found = contact(harness)
    assert found["permission"] == permission  # never lowered while DOI runs
    if permission in (DOI, DOI_PLUS):
        assert not found["doi_pending"]  # no new DOI mail …
        assert harness.newsletter_of(person["id"]) == "Subscribed"  # … subscribed at once
    else:
        assert found["doi_pending"] and found["doi_mailing"] == "doi-key-1"
        assert harness.newsletter_of(person["id"]) == "Pending confirmation"
        harness.ml("POST", "/_sim/contacts/confirm_doi", json={"email": EMAIL})
        harness.settle()
        assert contact(harness)["permission"] == DOI
        assert harness.newsletter_of(person["id"]) == "Subscribed"


def test_a_doi_plus_contact_stays_doi_plus_when_the_initial_permission_is_soi(
    harness: Harness,
) -> None:
    harness.setup_company(initial_permission=SOI)
    existing_contact(harness, DOI_PLUS)
    key, subscribed = option(harness, "Subscribed")
    harness.create_person(name="Kim Known", email=EMAIL, custom_fields={key: subscribed})
    harness.settle()
    assert contact(harness)["permission"] == DOI_PLUS
    assert permission_changes(harness) == []


def test_unsubscribe_unsubscribes_whatever_the_permission(harness: Harness, known: int) -> None:
    harness.setup_company(initial_permission=SOI)
    key, unsubscribed = option(harness, "Unsubscribed")
    person = harness.create_person(name="Kim Known", email=EMAIL)
    harness.settle()
    assert contact(harness)["permission"] == known
    harness.pd(
        "PATCH", f"/_sim/persons/{person['id']}", json={"custom_fields": {key: unsubscribed}}
    )
    harness.settle()
    state = harness.ml("GET", "/_sim/state")
    assert EMAIL in [u["email"] for u in state["unsubscriptions"]]
    assert EMAIL not in harness.contacts()  # Maileon anonymizes unsubscribed contacts


@pytest.mark.parametrize("subscribed", [False, True], ids=["plain", "newsletter-subscribed"])
def test_the_import_keeps_every_existing_permission(
    harness: Harness, known: int, subscribed: bool
) -> None:
    client = harness.setup_company(contacts_sync=False, initial_permission=COI)
    key, option_id = option(harness, "Subscribed")
    custom = {key: option_id} if subscribed else {}
    harness.create_person(name="Kim Known", email=EMAIL, custom_fields=custom)
    harness.create_person(name="Nia New", email="new@example.com", custom_fields=custom)
    start(harness, client)
    wait_for(harness, client, "done", timeout=30)
    found, new = contact(harness), contact(harness, "new@example.com")
    assert found["permission"] == known
    assert permission_changes(harness) == []
    assert found["standard_fields"]["FIRSTNAME"] == "Kim"  # its data was imported
    assert "createdByPipedrive" not in found["custom_fields"]
    assert new["permission"] == (COI if subscribed else NONE)
    assert new["custom_fields"]["createdByPipedrive"] is True


@pytest.mark.parametrize("permission", EVERY_PERMISSION)
def test_the_panel_subscribe_never_lowers_and_unsubscribe_unsubscribes(
    harness: Harness, permission: int
) -> None:
    harness.setup_company(initial_permission=SOI)
    existing_contact(harness, permission)
    person = harness.create_person(name="Kim Known", email=EMAIL)
    harness.settle()
    r = act(harness, "subscribe", person["id"], make_token(harness))
    assert r.status_code == 200, r.text
    harness.settle()
    assert contact(harness)["permission"] == (SOI if permission == NONE else permission)
    assert harness.newsletter_of(person["id"]) == "Subscribed"
    r = act(harness, "unsubscribe", person["id"], make_token(harness))
    assert r.status_code == 200, r.text
    assert EMAIL not in harness.contacts()
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"


def test_the_simulator_applies_a_permission_given_on_create_to_an_existing_contact(
    harness: Harness,
) -> None:
    """What made the bug: Maileon applies the create's permission (default NONE) to an
    existing SOI/COI/OTHER contact; only DOI/DOI+ are protected. PUT without one leaves it."""
    auth = {"Authorization": "Basic ZGVtby1tYWlsZW9uLWtleS0wMDAx"}  # demo-maileon-key-0001
    for email, permission in (("soi@example.com", SOI), ("doi@example.com", DOI)):
        existing_contact(harness, permission, email)
        r = httpx.post(
            f"{harness.ml_url}/1.0/contacts/email/{email}",
            params={"sync_mode": "1"},
            content=b"{}",
            headers={**auth, "Content-Type": "application/vnd.maileon.api+json"},
        )
        assert r.status_code == 201
    assert contact(harness, "soi@example.com")["permission"] == NONE
    assert contact(harness, "doi@example.com")["permission"] == DOI
    existing_contact(harness, COI, "coi@example.com")
    r = httpx.put(
        f"{harness.ml_url}/1.0/contacts/email/coi@example.com",
        content=b'{"standard_fields": {"CITY": "Bonn"}}',
        headers={**auth, "Content-Type": "application/vnd.maileon.api+json"},
    )
    assert r.status_code == 201
    assert contact(harness, "coi@example.com")["permission"] == COI


def person_log(harness: Harness) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in harness.rows(
            "SELECT result, message FROM sync_log WHERE kind='person' ORDER BY id"
        )
    ]


def test_subscribed_without_a_valid_email_needs_attention(harness: Harness) -> None:
    client = harness.setup_company()
    key, subscribed = option(harness, "Subscribed")
    ann = harness.create_person(name="Ann Noaddress", custom_fields={key: subscribed})
    bob = harness.create_person(name="Bob Noaddress")
    harness.settle()
    results = {message.split(":")[0]: result for result, message in person_log(harness)}
    assert results[f"Ann Noaddress (#{ann['id']})"] == "attention"
    assert results[f"Bob Noaddress (#{bob['id']})"] == "skipped"
    jobs = harness.rows("SELECT state, attempts FROM jobs WHERE kind='person'")
    assert all(state == "done" and attempts <= 1 for state, attempts in jobs)  # not retried
    card = html.unescape(client.get(f"{harness.app_url}/settings/health").text)
    assert "1 person needs your attention" in card and "Ann Noaddress" in card, card
    assert "Bob Noaddress" not in card.split("your attention")[1].split("</ul>")[0]


def test_an_edit_after_an_unsubscribe_in_maileon_is_skipped_not_ok(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Una Gone", email="una@example.com")
    harness.settle()
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "una@example.com"})
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"name": "Una Renamed"})
    harness.settle()
    result, message = person_log(harness)[-1]
    assert result == "skipped" and "unsubscribed in Maileon" in message, message
    assert "una@example.com" not in harness.contacts()  # not re-created
