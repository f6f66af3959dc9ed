"""Contact sync and subscription rules (F7, F8), through the real webhook endpoint and worker
against the simulators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import COMPANY, Harness, writes_of
from tests.webhooks import deliver, person_v1, person_v2

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "pipedrive"  # from the reference


def field(harness: Harness, name: str) -> dict[str, Any]:
    return next(
        f
        for f in harness.pd("GET", "/_sim/state")["person_fields"]
        if f["name"] == name and f.get("company_id", COMPANY) == COMPANY
    )


def option(harness: Harness, label: str) -> tuple[str, int]:
    key, options = harness.newsletter_field()
    return key, options[label]


def maileon_calls(harness: Harness, email: str) -> list[str]:
    """Contact writes Maileon received for this address."""
    out = []
    for r in harness.ml("GET", "/_sim/state")["requests"]:
        path = r["path"]
        if (
            r["method"] in ("POST", "PUT", "DELETE")
            and "/contacts/email/" in path
            and email in path.replace("%40", "@")
        ):
            out.append(f"{r['method']} {path}")
    return out


def sync_log(harness: Harness) -> list[dict[str, Any]]:
    import sqlite3

    conn = sqlite3.connect(harness.config.database_path)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM sync_log ORDER BY id")]
    conn.close()
    return rows


def test_subscribed_without_doi_gets_the_initial_permission(harness: Harness) -> None:
    harness.setup_company(initial_permission=3)
    key, subscribed = option(harness, "Subscribed")
    harness.create_person(name="Sue Sub", email="sue@example.com", custom_fields={key: subscribed})
    harness.create_person(name="Nora None", email="nora@example.com")
    harness.settle()
    contacts = harness.contacts()
    assert contacts["sue@example.com"]["permission"] == 3
    assert contacts["nora@example.com"]["permission"] == 1


def test_subscribed_with_doi_starts_doi_and_shows_pending(harness: Harness) -> None:
    harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", initial_permission=4)
    key, subscribed = option(harness, "Subscribed")
    person = harness.create_person(
        name="Dora Doi", email="dora@example.com", custom_fields={key: subscribed}
    )
    harness.settle()
    contact = harness.contacts()["dora@example.com"]
    assert contact["doi_pending"] and contact["doi_mailing"] == "doi-key-1"
    assert contact["permission"] == 1
    assert harness.newsletter_of(person["id"]) == "Pending confirmation"
    # The app's own write echoed back as a webhook: it must not call Maileon again.
    assert len(maileon_calls(harness, "dora@example.com")) == 1


def test_unsubscribed_unsubscribes_and_a_later_edit_does_not_resubscribe(harness: Harness) -> None:
    harness.setup_company()
    key, subscribed = option(harness, "Subscribed")
    _, unsubscribed = option(harness, "Unsubscribed")
    person = harness.create_person(
        name="Uma Un", email="uma@example.com", custom_fields={key: subscribed}
    )
    harness.settle()
    assert harness.contacts()["uma@example.com"]["permission"] == 2
    harness.pd(
        "PATCH", f"/_sim/persons/{person['id']}", json={"custom_fields": {key: unsubscribed}}
    )
    harness.settle()
    state = harness.ml("GET", "/_sim/state")
    assert "uma@example.com" in [u["email"] for u in state["unsubscriptions"]]
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"name": "Uma Renamed"})
    harness.settle()
    contact = harness.contacts().get("uma@example.com")
    assert contact is None or contact["unsubscribed"] or contact["permission"] == 1


def test_primary_email_change_moves_the_same_contact(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Eve Old", email="eve.old@example.com")
    harness.settle()
    before = harness.contacts()["eve.old@example.com"]["id"]
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"email": "eve.new@example.com"})
    harness.settle()
    contacts = harness.contacts()
    assert "eve.old@example.com" not in contacts
    assert contacts["eve.new@example.com"]["id"] == before


def test_delete_removes_the_contact(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Del Me", email="del@example.com")
    harness.settle()
    harness.pd("DELETE", f"/_sim/persons/{person['id']}")
    harness.settle()
    assert "del@example.com" not in harness.contacts()


def test_merge_removes_the_merged_away_contact_and_updates_the_survivor(harness: Harness) -> None:
    harness.setup_company()
    survivor = harness.create_person(name="Sam Survivor", email="sam@example.com")
    loser = harness.create_person(name="Lou Loser", email="lou@example.com")
    harness.settle()
    harness.pd("POST", f"/_sim/persons/{loser['id']}/merge", json={"into": survivor["id"]})
    harness.settle()
    contacts = harness.contacts()
    assert "lou@example.com" not in contacts
    assert contacts["sam@example.com"]["standard_fields"]["FULLNAME"] == "Sam Survivor"


def test_person_without_email_or_with_a_rejected_address_is_skipped(harness: Harness) -> None:
    harness.setup_company()
    harness.create_person(name="No Mail")
    harness.create_person(name="Bad Mail", email="not-an-address")
    harness.create_person(name="Odd Mail", email="jo(h)n@example.com")  # Maileon refuses it
    harness.settle()
    assert harness.contacts() == {}
    messages = [e["message"] for e in sync_log(harness) if e["result"] == "skipped"]
    assert any("No Mail" in m and "no email address" in m for m in messages)
    assert any("Bad Mail" in m and "not valid" in m for m in messages)
    assert any("Odd Mail" in m and "Maileon rejected the address" in m for m in messages)
    assert not [e for e in sync_log(harness) if e["result"] == "failed"]


def test_mapped_custom_fields_arrive_typed(harness: Harness) -> None:
    client = harness.install()
    state = harness.pd("GET", "/_sim/state")
    by_name = {
        f["name"]: f for f in state["person_fields"] if f.get("company_id") in (None, COMPANY)
    }
    keys = {n: by_name[n]["key"] for n in ("Score", "Budget", "Next call", "Tier", "Interests")}
    form = {f"custom_field_{i}": keys[n] for i, n in enumerate(keys, start=1)}
    r = harness.save_settings(
        client, maileon_api_key="demo-maileon-key-0001", contacts_sync=True, **form
    )
    assert r.status_code == 200, r.text
    gold = next(o["id"] for o in by_name["Tier"]["options"] if o["label"] == "Gold")
    interests = [o["id"] for o in by_name["Interests"]["options"]][:2]
    harness.create_person(
        name="Typed Tina",
        email="tina@example.com",
        custom_fields={
            keys["Score"]: 42.5,
            keys["Budget"]: {"value": 1200, "currency": "EUR"},
            keys["Next call"]: "2026-12-01",
            keys["Tier"]: gold,
            keys["Interests"]: interests,
        },
    )
    harness.settle()
    contact = harness.contacts()["tina@example.com"]
    custom = contact["custom_fields"]
    assert float(custom["Score"]) == 42.5
    assert float(custom["Budget"]) == 1200
    assert custom["Next call"] == "2026-12-01"
    assert custom["Tier"] == "Gold"
    assert custom["Interests"] == "News, Events"
    types = {f["name"]: f["type"] for f in harness.ml("GET", "/_sim/state")["custom_fields"]}
    assert types["Score"] == "float" and types["Next call"] == "date"


def test_an_older_change_never_overwrites_a_newer_one(harness: Harness) -> None:
    harness.setup_company()
    newer = person_v2(900, "change", name="New Name", email="order@example.com", seconds=20)
    older = person_v2(900, "change", name="Old Name", email="order@example.com", seconds=10)
    assert deliver(harness, newer).status_code == 200
    harness.settle()
    assert deliver(harness, older).status_code == 200
    harness.settle()
    assert harness.contacts()["order@example.com"]["standard_fields"]["FULLNAME"] == "New Name"


def test_the_same_delivery_twice_is_stored_once(harness: Harness) -> None:
    harness.setup_company()
    payload = person_v2(901, "create", name="Twice", email="twice@example.com")
    first, second = deliver(harness, payload), deliver(harness, payload)
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    harness.settle()
    # one sync: a new person's contact is created (in a batch of new contacts) — once
    assert writes_of(harness, "twice@example.com") == ["SYNC"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_create_change_delete_in_both_webhook_versions(harness: Harness, version: str) -> None:
    harness.setup_company()
    if version == "v1":
        events = [
            person_v1(950, "added", name="Vera One", email="vera@example.com"),
            person_v1(950, "updated", name="Vera Two", email="vera@example.com", seconds=5),
            person_v1(
                950,
                "deleted",
                seconds=9,
                previous={"id": 950, "email": [{"value": "vera@example.com", "primary": True}]},
            ),
        ]
    else:
        events = [
            person_v2(950, "create", name="Vera One", email="vera@example.com"),
            person_v2(950, "change", name="Vera Two", email="vera@example.com", seconds=5),
            person_v2(
                950,
                "delete",
                seconds=9,
                previous={"id": 950, "emails": [{"value": "vera@example.com", "primary": True}]},
            ),
        ]
    deliver(harness, events[0])
    deliver(harness, events[1])
    harness.settle()
    assert harness.contacts()["vera@example.com"]["standard_fields"]["FULLNAME"] == "Vera Two"
    deliver(harness, events[2])
    harness.settle()
    assert "vera@example.com" not in harness.contacts()


def test_documented_example_payload_replays(harness: Harness) -> None:
    harness.setup_company()
    example = json.loads((EXAMPLES / "webhook_v2_person_create.migration-guide.json").read_text())
    example["meta"]["company_id"] = str(COMPANY)  # the company the credentials belong to
    assert deliver(harness, example).status_code == 200
    with_email = json.loads(json.dumps(example))
    with_email["meta"]["id"] = "another-event-id"
    with_email["data"]["emails"] = [
        {"value": "sample@example.com", "primary": True, "label": "work"}
    ]
    assert deliver(harness, with_email).status_code == 200
    harness.settle()
    contact = harness.contacts()["sample@example.com"]
    assert contact["external_id"] == "8"
    assert contact["standard_fields"]["FIRSTNAME"] == "Sample"


def test_a_foreign_company_event_is_refused(harness: Harness) -> None:
    harness.setup_company()
    payload = person_v2(
        960, "create", name="Intruder", email="in@example.com", meta={"company_id": "2002"}
    )
    r = deliver(harness, payload)
    assert r.status_code == 400
    harness.settle()
    assert "in@example.com" not in harness.contacts()


def test_v1_merge_removes_the_merged_away_contact(harness: Harness) -> None:
    harness.setup_company()
    deliver(harness, person_v1(970, "added", name="Kept Person", email="kept@example.com"))
    deliver(harness, person_v1(971, "added", name="Gone Person", email="gone@example.com"))
    harness.settle()
    # v1 sends merged.person for the survivor, then deleted.person for the merged one.
    deliver(
        harness, person_v1(970, "merged", name="Kept Person", email="kept@example.com", seconds=5)
    )
    deliver(
        harness,
        person_v1(
            971,
            "deleted",
            seconds=5,
            previous={"id": 971, "email": [{"value": "gone@example.com", "primary": True}]},
        ),
    )
    harness.settle()
    contacts = harness.contacts()
    assert "gone@example.com" not in contacts and "kept@example.com" in contacts


def test_delete_keeps_a_contact_the_app_did_not_create(harness: Harness) -> None:
    """F7: a website subscriber with DOI who is also a person in Pipedrive keeps the contact
    and its consent when the person is deleted; a contact the app created is removed."""
    harness.setup_company()
    harness.ml("POST", "/_sim/contacts", json={"email": "web@example.com", "permission": 4})
    found = harness.create_person(name="Web Subscriber", email="web@example.com")
    made = harness.create_person(name="Made Here", email="made@example.com")
    harness.settle()
    assert harness.contacts()["made@example.com"]["custom_fields"]["createdByPipedrive"] is True

    harness.pd("DELETE", f"/_sim/persons/{found['id']}")
    harness.pd("DELETE", f"/_sim/persons/{made['id']}")
    harness.settle()

    contacts = harness.contacts()
    assert "made@example.com" not in contacts
    assert contacts["web@example.com"]["permission"] == 4
    assert not contacts["web@example.com"]["unsubscribed"]
    log = harness.rows(
        "SELECT message FROM sync_log WHERE kind='person' AND entity_id=?", (str(found["id"]),)
    )
    assert any("not created by the app, so it keeps its data and permission" in m for (m,) in log)
