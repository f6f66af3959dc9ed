"""F10 end to end: Maileon unsubscribes and DOI confirmations come back to Pipedrive's Newsletter
field, through Maileon webhooks the app registers itself and through the periodic
reconciliation of Maileon's unsubscription report. Everything runs over real HTTP against the
two simulators; nothing of the app is mocked."""

from __future__ import annotations

import html
import json
from typing import Any

import httpx

from tests.harness import ADMIN, COMPANY, Harness
from tests.waiting import wait_until


# --- helpers -----------------------------------------------------------------------------------
def subscribed_person(h: Harness, email: str, first_name: str = "Ada") -> dict[str, Any]:
    key, options = h.newsletter_field()
    return h.create_person(
        first_name=first_name,
        last_name="Lovelace",
        email=email,
        custom_fields={key: options["Subscribed"]},
    )


def maileon_hooks(h: Harness, account: str = "demo") -> list[dict[str, Any]]:
    return h.ml("GET", f"/_sim/state?account={account}")["webhooks"]  # type: ignore[no-any-return]


def token_of(h: Harness) -> str:
    hook = maileon_hooks(h)[0]
    return str(next(p["custom_value"] for p in hook["urlParams"] if p["name"] == "token"))


def maileon_requests(h: Harness) -> list[dict[str, Any]]:
    return h.ml("GET", "/_sim/state")["requests"]  # type: ignore[no-any-return]


def unsubscription_reports(h: Harness) -> list[dict[str, Any]]:
    return [r for r in maileon_requests(h) if r["path"] == "/1.0/reports/unsubscriptions"]


def maileon_events_stored(h: Harness) -> int:
    events = h.rows("SELECT count(*) FROM events WHERE source='maileon'")[0][0]
    jobs = h.rows("SELECT count(*) FROM jobs WHERE kind='maileon_event'")[0][0]
    return int(events) + int(jobs)


def sync_log(h: Harness, client: httpx.Client) -> str:
    r = client.get(f"{h.app_url}/settings/health")
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


# --- tests -------------------------------------------------------------------------------------
def test_webhooks_registered_once_per_key_and_removed_on_uninstall(harness: Harness) -> None:
    client = harness.setup_company()
    hooks = maileon_hooks(harness)
    assert sorted(h["event"] for h in hooks) == ["bounce", "doi", "unsubscription"]
    for hook in hooks:
        assert hook["url"] == f"{harness.app_url}/webhooks/maileon/{COMPANY}/{hook['event']}"
        params = {p["name"]: p for p in hook["urlParams"]}
        assert params["email"]["standard_contact_field"] == "email"
        assert params["eid"]["standard_contact_field"] == "external_id"
        assert len(params["token"]["custom_value"]) >= 32
        assert set(hook["standardFields"]) == {"email", "external_id"}
        assert "timestamp" in hook["eventFields"]

    # saving again does not duplicate
    r = harness.save_settings(client, contacts_sync=True)
    assert "Settings saved" in r.text
    assert sorted(h["id"] for h in maileon_hooks(harness)) == sorted(h["id"] for h in hooks)

    # a key of another Maileon account: registered there as well
    harness.ml("POST", "/_sim/keys", json={"key": "other-account-key-0002", "account": "other"})
    r = harness.save_settings(client, maileon_api_key="other-account-key-0002", contacts_sync=True)
    assert "Settings saved" in r.text, r.text
    assert sorted(h["event"] for h in maileon_hooks(harness, "other")) == [
        "bounce",
        "doi",
        "unsubscription",
    ]

    # uninstall of the last user: the stored key's webhooks go, and the company is wiped
    harness.pd("POST", "/_sim/uninstall", json={"user_id": ADMIN})
    # the hooks go first, then the company's rows: wait for the end of both
    wait_until(lambda: not maileon_hooks(harness, "other"))
    wait_until(lambda: harness.rows("SELECT count(*) FROM companies") == [(0,)])


def test_uninstall_is_not_blocked_when_maileon_is_down(harness: Harness) -> None:
    harness.setup_company()
    harness.ml("POST", "/_sim/down", json={"down": True})
    harness.pd("POST", "/_sim/uninstall", json={"user_id": ADMIN})

    wait_until(lambda: harness.rows("SELECT count(*) FROM companies") == [(0,)])
    harness.ml("POST", "/_sim/down", json={"down": False})
    assert len(maileon_hooks(harness)) == 3  # left behind; Maileon was unreachable


def test_unsubscribe_in_maileon_sets_newsletter_unsubscribed_without_loops(
    harness: Harness,
) -> None:
    client = harness.setup_company()
    person = subscribed_person(harness, "ada@example.com")
    harness.settle()
    assert harness.contacts()["ada@example.com"]["permission"] == 2

    before = len(maileon_requests(harness))
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "ada@example.com"})
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    deliveries = harness.ml("GET", "/_sim/state")["deliveries"]
    assert [d["state"] for d in deliveries if d["event"] == "unsubscription"] == ["delivered"]
    # the field write came back as a Pipedrive webhook: it must not call Maileon
    assert maileon_requests(harness)[before:] == []
    assert "Newsletter set to Unsubscribed" in sync_log(harness, client)

    # a later edit in Pipedrive does not re-subscribe the person
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"first_name": "Augusta"})
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    later = maileon_requests(harness)[before:]
    assert not [r for r in later if r["method"] == "POST" and "/contacts/email/" in r["path"]]
    state = harness.ml("GET", "/_sim/state")
    assert "ada@example.com" in state["suppressed"]
    assert not [
        c
        for c in state["contacts"]
        if c.get("email") == "ada@example.com" and not c["unsubscribed"]
    ]


def test_doi_confirmation_sets_newsletter_subscribed(harness: Harness) -> None:
    harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1")
    person = subscribed_person(harness, "grace@example.com", "Grace")
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Pending confirmation"
    assert harness.contacts()["grace@example.com"]["doi_pending"] is True

    before = len(maileon_requests(harness))
    harness.ml("POST", "/_sim/contacts/confirm_doi", json={"email": "grace@example.com"})
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Subscribed"
    assert harness.contacts()["grace@example.com"]["permission"] == 4
    # one read of the contact's permission (item 5); the echo of the field write is a no-op
    assert [(r["method"], r["path"]) for r in maileon_requests(harness)[before:]] == [
        ("GET", "/1.0/contacts/email/grace@example.com")
    ]


def test_webhook_token_is_required(harness: Harness) -> None:
    harness.setup_company()
    person = subscribed_person(harness, "ada@example.com")
    harness.settle()
    token = token_of(harness)
    stored = maileon_events_stored(harness)
    url = f"{harness.app_url}/webhooks/maileon"
    body = {
        "email": "ada@example.com",
        "external_id": str(person["id"]),
        "timestamp": "2024-05-02 10:15:00",
    }
    assert httpx.post(f"{url}/{COMPANY}/unsubscription", json=body).status_code == 401
    assert httpx.post(f"{url}/{COMPANY}/unsubscription?token=", json=body).status_code == 401
    assert (
        httpx.post(f"{url}/{COMPANY}/unsubscription?token=wrong-{token[:8]}", json=body).status_code
        == 403
    )
    assert httpx.post(f"{url}/4242/unsubscription?token={token}", json=body).status_code == 403
    assert httpx.get(f"{url}/{COMPANY}/unsubscription?token={token}").status_code == 405
    harness.settle()
    assert maileon_events_stored(harness) == stored
    assert harness.newsletter_of(person["id"]) == "Subscribed"

    # the right token: accepted once, a redelivery is a duplicate
    r = httpx.post(f"{url}/{COMPANY}/unsubscription?token={token}", json=body)
    assert r.status_code == 200 and r.json() == {"ok": True, "duplicate": False}
    r = httpx.post(f"{url}/{COMPANY}/unsubscription?token={token}", json=body)
    assert r.json()["duplicate"] is True
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"


def test_plus_in_email_and_unknown_or_anonymized_contacts(harness: Harness) -> None:
    client = harness.setup_company()
    ada = subscribed_person(harness, "ada+news@example.com")
    bob = subscribed_person(harness, "bob+promo@example.com", "Bob")
    harness.settle()

    # through the simulator: '+' is not percent-encoded in the URL parameters
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "ada+news@example.com"})
    harness.settle()
    assert harness.newsletter_of(ada["id"]) == "Unsubscribed"

    # URL parameters only, no body, no external id: the address alone must match
    token = token_of(harness)
    base = f"{harness.app_url}/webhooks/maileon/{COMPANY}/unsubscription"
    r = httpx.post(f"{base}?email=bob+promo@example.com&eid=&token={token}")
    assert r.status_code == 200, r.text
    r = httpx.post(f"{base}?email=nobody@example.com&token={token}", content=b"")
    assert r.status_code == 200
    r = httpx.post(f"{base}?email=&eid=&token={token}", json={"email": None})
    assert r.status_code == 200
    assert httpx.post(f"{base}?token={token}", content=b"not json").status_code == 400
    harness.settle()
    assert harness.newsletter_of(bob["id"]) == "Unsubscribed"
    log = sync_log(harness, client)
    assert "no Pipedrive person synced by this app has this address" in log
    assert "without email address or external id" in log
    assert harness.rows(
        "SELECT count(*) FROM jobs WHERE kind='maileon_event' AND state<>'done'"
    ) == [(0,)]


def test_reconciliation_applies_unsubscribes_without_webhook(
    fast_periodic_harness: Harness,
) -> None:
    """Periodic work scaled down: the reconciliation (900 s) runs about every second."""
    h = fast_periodic_harness
    client = h.setup_company()
    person = subscribed_person(h, "lin@example.com", "Lin")
    other = subscribed_person(h, "kim@example.com", "Kim")
    h.settle()
    h.ml(
        "POST",
        "/_sim/contacts/unsubscribe",
        json={"email": "lin@example.com", "fire_webhooks": False},
    )
    h.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "kim@example.com"})
    unsubscriptions = h.ml("GET", "/_sim/state")["unsubscriptions"]
    assert [u["webhooks_fired"] for u in unsubscriptions] == [False, True]
    wait_until(lambda: h.newsletter_of(person["id"]) == "Unsubscribed", timeout=20)
    assert h.newsletter_of(other["id"]) == "Unsubscribed"
    h.settle()
    assert "found by the periodic check" in sync_log(h, client)
    reports = unsubscription_reports(h)
    assert reports and all("page_size=1000" in r["query"] for r in reports)
    cursors = h.rows("SELECT value FROM cursors WHERE name='maileon_unsubscriptions'")
    applied = h.rows("SELECT count(*) FROM sync_log WHERE kind='maileon_event' AND result='ok'")[0][
        0
    ]
    assert cursors and int(cursors[0][0]) > 0
    # each unsubscribe applied exactly once (webhook + report of Kim's do not double up)
    # a couple more reconciliation runs read the report again
    ran = len(unsubscription_reports(h))
    wait_until(lambda: len(unsubscription_reports(h)) >= ran + 2)
    h.settle()
    assert (
        h.rows("SELECT count(*) FROM sync_log WHERE kind='maileon_event' AND result='ok'")[0][0]
        == applied
        == 2
    )


def test_an_external_id_in_digits_that_are_not_ascii_is_no_person_id(harness: Harness) -> None:
    """Issue #22, item 9: "²" passes str.isdigit() but int() raises; the event must apply by
    the address (or be skipped with a reason), never fail and retry forever."""
    client = harness.setup_company()
    ada = subscribed_person(harness, "ada@example.com")
    bob = subscribed_person(harness, "bob@example.com", "Bob")
    harness.settle()
    base = f"{harness.app_url}/webhooks/maileon/{COMPANY}/unsubscription?token={token_of(harness)}"
    for email, eid in (("ada@example.com", "\u00b2"), ("bob@example.com", "9" * 5000)):
        r = httpx.post(base, json={"email": email, "external_id": eid})
        assert r.status_code == 200, r.text
    r = httpx.post(base, json={"email": "", "external_id": "\u0661\u0662"})
    assert r.status_code == 200, r.text
    harness.settle()
    assert harness.newsletter_of(ada["id"]) == "Unsubscribed"
    assert harness.newsletter_of(bob["id"]) == "Unsubscribed"
    assert "no Pipedrive person synced by this app has this address or id" in sync_log(
        harness, client
    )
    assert harness.rows(
        "SELECT count(*) FROM jobs WHERE kind='maileon_event' AND state<>'done'"
    ) == [(0,)]


def test_doi_confirmation_is_believed_only_when_maileon_shows_doi(harness: Harness) -> None:
    client = harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1")
    person = subscribed_person(harness, "grace@example.com", "Grace")
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Pending confirmation"
    # a DOI webhook arrives (a stray or replayed call) while Maileon still has permission NONE
    url = f"{harness.app_url}/webhooks/maileon/{COMPANY}/doi?token={token_of(harness)}"
    body = {"email": "grace@example.com", "external_id": str(person["id"])}
    r = httpx.post(url, json={**body, "timestamp": "2024-05-02 10:15:00"})
    assert r.status_code == 200, r.text
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Pending confirmation"
    assert harness.contacts()["grace@example.com"]["permission"] == 1
    log = sync_log(harness, client)
    assert "DOI confirmation for grace@example.com" in log
    assert "with permission None, not a confirmed double opt-in" in log

    # the recipient really confirms: Maileon shows DOI, the same kind of call is believed
    harness.ml("POST", "/_sim/contacts/confirm_doi", json={"email": "grace@example.com"})
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Subscribed"


def test_webhooks_read_back_in_another_casing_are_kept(harness: Harness) -> None:
    """Which key casing GET /webhooks answers with is UNCONFIRMED: in snake_case and with
    upper-case field names the app's webhooks are still recognised, not deleted and re-created
    on every reconciliation."""
    client = harness.setup_company()
    hooks = maileon_hooks(harness)
    assert len(hooks) == 3  # unsubscription, doi, bounce (F15)

    def snake(hook: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": hook["id"],
            "url": hook["url"],
            "event": hook["event"],
            "url_params": [
                {
                    "Name": p["name"],
                    "StandardContactField": (p["standard_contact_field"] or "").upper() or None,
                    "CustomValue": p["custom_value"],
                }
                for p in hook["urlParams"]
            ],
        }

    harness.ml(
        "POST",
        "/_sim/faults",
        json={
            "path_prefix": "/1.0/webhooks",
            "method": "GET",
            "status": 200,
            "count": 1,
            "body": json.dumps([snake(h) for h in hooks]),
        },
    )
    before = len(maileon_requests(harness))
    r = harness.save_settings(client, contacts_sync=True)  # reconciles the webhooks
    assert "Settings saved" in r.text
    calls = [(r["method"], r["path"]) for r in maileon_requests(harness)[before:]]
    assert harness.ml("POST", "/_sim/faults", json=[])["scripted"] == 0  # the list was read
    assert not [c for c in calls if c[0] in ("POST", "DELETE") and "/webhooks" in c[1]], calls
    assert sorted(h["id"] for h in maileon_hooks(harness)) == sorted(h["id"] for h in hooks)
