"""Deal sync (F9): Pipedrive deals arrive in Maileon as transactions of the person's contact."""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
from typing import Any

import httpx

from tests.harness import ADMIN, COMPANY, MAILEON_KEY, Harness

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
ATTRIBUTE_TYPES = {
    "transaction_id": "string",  # the event's stable id (issue 27)
    "deal_id": "integer",
    "title": "string",
    "value": "double",
    "currency": "string",
    "status": "string",
    "stage": "string",
    "pipeline": "string",
    "owner": "string",
    "organization": "string",
    "expected_close_date": "date",
    "won_time": "timestamp",
    "lost_time": "timestamp",
    "lost_reason": "string",
    "update_time": "timestamp",
    "deal_url": "string",
}


def create_deal(harness: Harness, **fields: Any) -> dict[str, Any]:
    deal: dict[str, Any] = harness.pd("POST", "/_sim/deals", json={"company_id": COMPANY, **fields})
    return deal


def maileon_state(harness: Harness) -> dict[str, Any]:
    return harness.ml("GET", "/_sim/state")  # type: ignore[no-any-return]


def sync_log(harness: Harness, client: httpx.Client, failed_only: bool = False) -> str:
    query = "?log=failed" if failed_only else ""
    r = client.get(f"{harness.app_url}/settings/health{query}")
    assert r.status_code == 200, r.text
    return html.unescape(re.sub(r"<a [^>]*>|</a>", "", r.text))  # names link to Pipedrive


def organization_id(harness: Harness, name: str) -> int:
    orgs = harness.pd("GET", f"/_sim/state?company_id={COMPANY}")["organizations"]
    return int(next(o["id"] for o in orgs if o["name"] == name))


def post_webhook(harness: Harness, body: dict[str, Any]) -> dict[str, Any]:
    """Deliver a webhook body as Pipedrive would, with the Basic credentials of our webhooks."""
    hooks = harness.pd("GET", f"/_sim/state?company_id={COMPANY}")["webhooks"]
    hook = next(w for w in hooks if w["event_object"] == "deal")
    r = httpx.post(
        f"{harness.app_url}/webhooks/pipedrive",
        content=json.dumps(body),
        auth=(hook["http_auth_user"], hook["http_auth_password"]),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def change_meta(deal_id: int) -> dict[str, str]:
    """A v2 deal `change` webhook's meta, as Pipedrive sends it (a fresh delivery id)."""
    return {
        "action": "change",
        "entity": "deal",
        "company_id": str(COMPANY),
        "entity_id": str(deal_id),
        "id": str(uuid.uuid4()),
        "version": "2.0",
        "timestamp": "2030-01-01T10:00:00.123Z",
        "user_id": str(ADMIN),
    }


def test_added_updated_deleted_deal_send_three_transactions(harness: Harness) -> None:
    client = harness.setup_company(deals_sync=True)
    org_id = organization_id(harness, "Acme Corp")
    person = harness.create_person(name="Grace Hopper", email="grace@example.com", org_id=org_id)
    deal = create_deal(
        harness,
        title="Compiler licence",
        value=1999.5,
        currency="usd",
        person_id=person["id"],
        org_id=org_id,
        expected_close_date="2030-06-30",
    )
    harness.settle()
    harness.pd(
        "PATCH",
        f"/_sim/deals/{deal['id']}",
        json={"status": "won", "stage_id": deal["stage_id"] + 1},
    )
    harness.settle()
    harness.pd("DELETE", f"/_sim/deals/{deal['id']}")
    harness.settle()

    state = maileon_state(harness)
    sent = state["transactions"]
    assert [t["type_name"] for t in sent] == [
        "pipedrive_deal_added",
        "pipedrive_deal_updated",
        "pipedrive_deal_deleted",
    ]
    assert {t["email"] for t in sent} == {"grace@example.com"}
    added, updated, deleted = (t["content"] for t in sent)
    assert TIMESTAMP.match(added.pop("update_time"))
    # each event carries its own stable id, by which a duplicate is recognisable
    ids = [added.pop("transaction_id"), updated["transaction_id"], deleted["transaction_id"]]
    assert len(set(ids)) == 3 and all(i.startswith(f"pd-1001-deal-{deal['id']}-") for i in ids)
    assert added == {
        "deal_id": deal["id"],
        "title": "Compiler licence",
        "value": 1999.5,
        "currency": "USD",
        "status": "open",
        "stage": "Qualified",
        "pipeline": "Sales",
        "organization": "Acme Corp",
        "expected_close_date": "2030-06-30",
        "deal_url": f"https://acme.pipedrive.com/deal/{deal['id']}",
        "owner": "Ada Admin",  # a v2 deal has only owner_id: the installing admin's name
    }
    assert updated["status"] == "won" and updated["stage"] == "Proposal"
    # /v1/users needs users:read, which the app does not have: never called
    assert not [
        r for r in harness.pd("GET", "/_sim/state")["requests"] if r.get("path") == "/api/v1/users"
    ]
    assert TIMESTAMP.match(updated["won_time"])
    assert deleted["status"] == "won" and deleted["title"] == "Compiler licence"
    assert deleted["won_time"] == updated["won_time"]

    types = {
        t["name"]: {a["name"]: a["type"] for a in t["attributes"]}
        for t in state["transaction_types"]
    }
    assert types == {
        name: ATTRIBUTE_TYPES
        for name in ("pipedrive_deal_added", "pipedrive_deal_updated", "pipedrive_deal_deleted")
    }
    assert "Deal 'Compiler licence' → Maileon" in sync_log(harness, client)


def test_missing_contact_is_created_without_permission(harness: Harness) -> None:
    harness.setup_company(deals_sync=True, contacts_sync=False)
    person = harness.create_person(name="Ada Lovelace", email="ada.l@example.com")
    harness.settle()
    assert "ada.l@example.com" not in harness.contacts()  # contacts sync is off

    create_deal(harness, title="Analytical engine", value=100, person_id=person["id"])
    harness.settle()
    contact = harness.contacts()["ada.l@example.com"]
    assert contact["permission"] == 1
    assert contact["external_id"] == str(person["id"])
    assert [t["type_name"] for t in maileon_state(harness)["transactions"]] == [
        "pipedrive_deal_added"
    ]


def test_deal_without_person_or_email_is_skipped_with_reason(harness: Harness) -> None:
    client = harness.setup_company(deals_sync=True)
    nobody = harness.create_person(name="No Mail")
    create_deal(harness, title="Orphan deal")
    create_deal(harness, title="Mailless deal", person_id=nobody["id"])
    harness.settle()

    assert maileon_state(harness)["transactions"] == []
    log = sync_log(harness, client)
    assert "Deal 'Orphan deal' → Maileon" in log and "the deal has no contact person" in log
    assert "Deal 'Mailless deal' → Maileon" in log and "No Mail" in log
    assert "has no email address" in log


def test_first_use_by_two_deals_at_once_creates_the_type_once(harness: Harness) -> None:
    harness.setup_company(deals_sync=True)
    one = harness.create_person(name="One", email="one@example.com")
    two = harness.create_person(name="Two", email="two@example.com")
    harness.settle()
    harness.ml("POST", "/_sim/latency", json={"ms": 150})  # keep both first uses in flight
    create_deal(harness, title="First", person_id=one["id"])
    create_deal(harness, title="Second", person_id=two["id"])
    harness.settle()
    harness.ml("POST", "/_sim/latency", json={"ms": 0})

    state = maileon_state(harness)
    assert sorted(t["email"] for t in state["transactions"]) == [
        "one@example.com",
        "two@example.com",
    ]
    assert [t["name"] for t in state["transaction_types"]] == ["pipedrive_deal_added"]
    creations = [
        r
        for r in state["requests"]
        if r["method"] == "POST" and r["path"].endswith("/transactions/types")
    ]
    assert len(creations) == 1


def test_same_event_delivered_twice_sends_one_transaction(harness: Harness) -> None:
    harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Twice", email="twice@example.com")
    deal = create_deal(harness, title="Echo", person_id=person["id"])
    harness.settle()
    current = next(d for d in harness.pd("GET", "/_sim/state")["deals"] if d["id"] == deal["id"])
    body = {
        "data": {**current, "title": "Echo renamed", "update_time": "2030-01-01T10:00:00Z"},
        "previous": {"title": "Echo"},
        "meta": change_meta(deal["id"]),
    }
    assert post_webhook(harness, body)["duplicate"] is False
    assert post_webhook(harness, body)["duplicate"] is True
    harness.settle()

    updates = [
        t
        for t in maileon_state(harness)["transactions"]
        if t["type_name"] == "pipedrive_deal_updated"
    ]
    assert len(updates) == 1
    assert updates[0]["content"]["title"] == "Echo renamed"
    assert updates[0]["content"]["update_time"] == "2030-01-01 10:00:00"


def test_transaction_maileon_does_not_queue_shows_as_failure(harness: Harness) -> None:
    # Someone created a type of that name in Maileon by hand, without our attributes.
    r = httpx.post(
        f"{harness.ml_url}/1.0/transactions/types",
        timeout=10,
        headers={
            "Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode(),
            "Content-Type": "application/json",
        },
        json={
            "name": "pipedrive_deal_added",
            "attributes": [{"name": "deal_id", "type": "integer"}],
        },
    )
    assert r.status_code == 201, r.text
    client = harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Refused", email="refused@example.com")
    create_deal(harness, title="Not taken", person_id=person["id"])
    harness.settle()

    assert maileon_state(harness)["transactions"] == []
    log = sync_log(harness, client, failed_only=True)
    assert "Maileon did not accept the pipedrive_deal_added transaction: unknown attribute" in log
    assert "Retry all failed" in log


def test_contact_not_found_report_is_retried(harness: Harness) -> None:
    harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Retry", email="retry@example.com")
    create_deal(harness, title="First try", person_id=person["id"])
    harness.settle()  # the type exists now; the next deal only posts the transaction
    report = {
        "reports": [
            {
                "contact": {"email": "retry@example.com"},
                "queued": False,
                "message": "contact not found",
            }
        ]
    }
    harness.ml(
        "POST",
        "/_sim/faults",
        json={
            "path_prefix": "/1.0/transactions",
            "method": "POST",
            "status": 201,
            "count": 1,
            "body": json.dumps(report),
        },
    )
    create_deal(harness, title="Second try", person_id=person["id"])
    harness.settle()

    titles = [t["content"]["title"] for t in maileon_state(harness)["transactions"]]
    assert titles == ["First try", "Second try"]


def test_v1_deal_webhooks_are_synced(harness: Harness) -> None:
    harness.setup_company(deals_sync=True)
    org_id = organization_id(harness, "Acme Corp")
    person = harness.create_person(name="Old Timer", email="old@example.com")
    harness.settle()
    deal = {
        "id": 777,
        "title": "Legacy deal",
        "value": 250,
        "currency": "EUR",
        "status": "lost",
        "person_id": {"value": person["id"], "name": "Old Timer"},
        "org_id": {"value": org_id, "name": "Acme Corp"},
        "user_id": ADMIN,
        "owner_name": "Ada Admin",
        "stage_id": 2,
        "pipeline_id": 1,
        "lost_time": "2024-03-01 10:00:00",
        "lost_reason": "Budget",
        "add_time": "2024-02-01 09:00:00",
        "update_time": "2024-03-01 10:00:00",
        "expected_close_date": "2024-04-01",
    }

    def v1(
        action: str, current: dict[str, Any] | None, previous: dict[str, Any] | None, stamp: int
    ) -> dict[str, Any]:
        return {
            "v": 1,
            "meta": {
                "v": 1,
                "action": action,
                "object": "deal",
                "id": 777,
                "company_id": COMPANY,
                "user_id": ADMIN,
                "timestamp": stamp,
                "timestamp_micro": stamp * 1_000_000,
            },
            "current": current,
            "previous": previous,
        }

    post_webhook(harness, v1("added", deal, None, 1709287200))
    post_webhook(
        harness,
        v1("deleted", None, {**deal, "person_id": person["id"], "org_id": org_id}, 1709287300),
    )
    harness.settle()

    sent = maileon_state(harness)["transactions"]
    assert sorted(t["type_name"] for t in sent) == [
        "pipedrive_deal_added",
        "pipedrive_deal_deleted",
    ]
    for tx in sent:
        assert tx["email"] == "old@example.com"
        assert tx["content"].pop("transaction_id").startswith("pd-1001-deal-777-")
        assert tx["content"] == {
            "deal_id": 777,
            "title": "Legacy deal",
            "value": 250.0,
            "currency": "EUR",
            "status": "lost",
            "stage": "Proposal",
            "pipeline": "Sales",
            "owner": "Ada Admin",
            "organization": "Acme Corp",
            "expected_close_date": "2024-04-01",
            "lost_time": "2024-03-01 10:00:00",
            "lost_reason": "Budget",
            "update_time": "2024-03-01 10:00:00",
            "deal_url": "https://acme.pipedrive.com/deal/777",
        }


def test_a_deal_id_in_the_data_that_is_not_a_number_does_not_loop(harness: Harness) -> None:
    """Issue #22, item 9: the deal is the one the validated `meta.entity_id` names; a `data.id`
    of "²" (isdigit() but not int()) must not make the job fail and retry forever."""
    harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Sup Er", email="super@example.com")
    deal = create_deal(harness, title="Squared", person_id=person["id"])
    harness.settle()
    current = next(d for d in harness.pd("GET", "/_sim/state")["deals"] if d["id"] == deal["id"])
    body = {
        "data": {**current, "id": "\u00b2", "update_time": "2030-01-01T10:00:00Z"},
        "previous": {"title": "Old"},
        "meta": change_meta(deal["id"]),
    }
    post_webhook(harness, body)
    harness.settle()
    updates = [
        t
        for t in maileon_state(harness)["transactions"]
        if t["type_name"] == "pipedrive_deal_updated"
    ]
    assert [t["content"]["deal_id"] for t in updates] == [deal["id"]]


def maileon_api(harness: Harness, method: str, path: str) -> httpx.Response:
    """A call to the simulated Maileon's API as a user of the account would make it."""
    return httpx.request(
        method,
        f"{harness.ml_url}/1.0{path}",
        headers={"Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode()},
        timeout=10,
    )


def test_deal_of_a_person_who_unsubscribed_sends_nothing_and_recreates_nothing(
    harness: Harness,
) -> None:
    client = harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Gone Away", email="gone@example.com")
    harness.settle()
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "gone@example.com"})
    harness.settle()  # the webhook tells the app; Maileon anonymizes the contact

    create_deal(harness, title="After unsubscribe", person_id=person["id"])
    harness.settle()

    state = maileon_state(harness)
    assert state["transactions"] == []
    assert [c for c in state["contacts"] if c["email"] == "gone@example.com"] == []
    log = sync_log(harness, client)
    assert "no transaction: Gone Away" in log and "unsubscribed in Maileon" in log


def test_deal_of_a_person_whose_contact_was_deleted_in_maileon_is_not_sent(
    harness: Harness,
) -> None:
    client = harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Deleted Here", email="deleted@example.com")
    harness.settle()
    assert maileon_api(harness, "DELETE", "/contacts/email/deleted%40example.com").is_success

    create_deal(harness, title="After delete", person_id=person["id"])
    harness.settle()

    state = maileon_state(harness)
    assert state["transactions"] == []
    assert "deleted@example.com" not in harness.contacts()
    log = sync_log(harness, client)
    assert "has no Maileon contact any more" in log and "does not re-create it" in log


def test_deal_of_an_address_unsubscribed_before_the_app_knew_it_is_not_sent(
    harness: Harness,
) -> None:
    client = harness.setup_company(deals_sync=True, contacts_sync=False)
    harness.ml("POST", "/_sim/contacts", json={"email": "website@example.com", "permission": 4})
    harness.ml(
        "POST",
        "/_sim/contacts/unsubscribe",
        json={"email": "website@example.com", "fire_webhooks": False},
    )
    person = harness.create_person(name="Web Visitor", email="website@example.com")
    create_deal(harness, title="Cold lead", person_id=person["id"])
    harness.settle()

    state = maileon_state(harness)
    assert state["transactions"] == []
    assert "website@example.com" not in harness.contacts()
    assert "unsubscribed there before" in sync_log(harness, client)


def test_a_type_created_before_gains_the_event_id(harness: Harness) -> None:
    """A type from an older version of the app (no transaction_id attribute) gets it added,
    keeping its attributes, so its events too can be looked up after a lost answer."""
    old = "".join(
        f"<attribute><name>{name}</name><type>{kind}</type><required>false</required></attribute>"
        for name, kind in ATTRIBUTE_TYPES.items()
        if name != "transaction_id"
    )
    r = httpx.post(
        f"{harness.ml_url}/1.0/transactions/types",
        content="<transaction_type><name>pipedrive_deal_added</name><description>old</description>"
        f"<attributes>{old}</attributes></transaction_type>",
        headers={
            "Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode(),
            "Content-Type": "application/vnd.maileon.api+xml",
        },
        timeout=10,
    )
    assert r.status_code == 201
    harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Old Type", email="old.type@example.com")
    create_deal(harness, title="Upgrade", person_id=person["id"])
    harness.settle()
    state = maileon_state(harness)
    [tx_type] = state["transaction_types"]
    assert {a["name"]: a["type"] for a in tx_type["attributes"]} == ATTRIBUTE_TYPES
    [tx] = state["transactions"]
    assert tx["content"]["transaction_id"].startswith("pd-1001-deal-")


def test_a_deal_change_queued_again_is_not_sent_twice(harness: Harness) -> None:
    """Nothing twice (issue 27): a deal change Maileon took, queued again (here by an import of
    open deals; the same as a job re-run after a crash between its record and its end), is
    not sent again; a later change of the deal still is."""
    from tests.integration.test_import import start, wait_for

    client = harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Twice Buyer", email="twice@example.com")
    deal = create_deal(harness, title="Once only", person_id=person["id"])
    harness.settle()
    harness.pd("PATCH", f"/_sim/deals/{deal['id']}", json={"value": 250})
    harness.settle()
    assert [t["type_name"] for t in maileon_state(harness)["transactions"]] == [
        "pipedrive_deal_added",
        "pipedrive_deal_updated",
    ]

    start(harness, client, include_deals="1")  # the deal's state is the one just sent
    wait_for(harness, client, "done")
    harness.settle()
    sent = maileon_state(harness)["transactions"]
    assert [t["type_name"] for t in sent] == ["pipedrive_deal_added", "pipedrive_deal_updated"]
    log = sync_log(harness, client)
    assert "pipedrive_deal_updated for Twice Buyer (#" in log
    assert "was sent to Maileon already (this change came again); not sent twice" in log

    harness.pd("PATCH", f"/_sim/deals/{deal['id']}", json={"value": 300})
    harness.settle()
    sent = maileon_state(harness)["transactions"]
    assert [t["type_name"] for t in sent][2:] == ["pipedrive_deal_updated"]
    assert sent[2]["content"]["value"] == 300
