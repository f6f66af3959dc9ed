"""The Newsletter panel on the person page (F11) over HTTP, as Pipedrive's iframe and its HTMX
calls reach it: JWT checks, every status in plain words, Subscribe / Unsubscribe end to end."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from typing import Any

import httpx

from tests.harness import ADMIN, COMPANY, MAILEON_KEY, Harness

GLOBEX, GLOBEX_USER = 2002, 601


def make_token(
    harness: Harness,
    company: int = COMPANY,
    user: int = ADMIN,
    ttl: int = 300,
    secret: str | None = None,
) -> str:
    return harness.sign_token(user, company, ttl, secret)


def open_panel(
    harness: Harness, person_id: int | str, token: str | None, theme: str = "light"
) -> httpx.Response:
    params = {
        "resource": "person",
        "view": "details",
        "selectedIds": str(person_id),
        "id": "runtime-1",
        "theme": theme,
        "userId": str(ADMIN),
        "companyId": str(COMPANY),
    }
    if token is not None:
        params["token"] = token
    return httpx.get(f"{harness.app_url}/panel", params=params, timeout=20)


def status(harness: Harness, person_id: int, token: str) -> httpx.Response:
    return httpx.get(
        f"{harness.app_url}/panel/status",
        params={"selectedIds": str(person_id)},
        headers={"X-Pipedrive-Token": token, "HX-Request": "true"},
        timeout=30,
    )


def act(
    harness: Harness, verb: str, person_id: int, token: str | None, site: str = "same-origin"
) -> httpx.Response:
    headers = {"HX-Request": "true", "Sec-Fetch-Site": site}
    if token:
        headers["X-Pipedrive-Token"] = token
    return httpx.post(
        f"{harness.app_url}/panel/{verb}",
        data={"person_id": str(person_id)},
        headers=headers,
        timeout=30,
    )


def snackbar(response: httpx.Response) -> dict[str, Any]:
    return json.loads(response.headers["hx-trigger"])["pm-snackbar"]  # type: ignore[no-any-return]


def test_valid_token_renders_a_fast_shell_that_loads_the_status_by_htmx(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    token = make_token(harness)
    harness.ml("POST", "/_sim/latency", json={"ms": 3000})  # a slow Maileon...
    started = time.monotonic()
    page = open_panel(harness, person["id"], token, theme="dark")
    assert time.monotonic() - started < 1.5  # ...never delays the SDK initialization
    harness.ml("POST", "/_sim/reset_faults")
    assert page.status_code == 200
    assert 'data-theme="dark"' in page.text
    assert "vendor/app-extensions-sdk.umd.js" in page.text and "embed.js" in page.text
    assert f'hx-get="/panel/status?selectedIds={person["id"]}"' in page.text
    assert token in page.text  # the header HTMX sends
    assert "grace@example.com" not in page.text  # data only comes with the status call

    harness.settle()
    r = status(harness, person["id"], token)
    assert r.status_code == 200
    assert "grace@example.com" in r.text and "Grace Hopper" in r.text


def test_missing_expired_tampered_and_foreign_secret_tokens_get_401_and_no_data(
    harness: Harness,
) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    valid = make_token(harness)
    head, payload, sig = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["userId"] = 502
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    bad_tokens = {
        "expired": make_token(harness, ttl=-60),
        "tampered": f"{head}.{forged}.{sig}",
        "wrong secret": make_token(harness, secret="not-the-client-secret-0123456789"),
        "garbage": "not.a.jwt",
    }
    r = open_panel(harness, person["id"], None)
    assert r.status_code == 401 and "Not signed in" in r.text
    for name, token in bad_tokens.items():
        page = open_panel(harness, person["id"], token)
        assert page.status_code == 401, name
        assert "invalid or expired" in page.text, name
        assert "vendor/app-extensions-sdk.umd.js" in page.text  # Pipedrive still shows it
        r = status(harness, person["id"], token)
        assert r.status_code == 401, name
        for text in (page.text, r.text):
            assert "grace@example.com" not in text and "Grace" not in text
        assert act(harness, "subscribe", person["id"], token).status_code == 401
    # the status call takes the token from the header only, never from a cookie or the query
    r = httpx.get(
        f"{harness.app_url}/panel/status",
        params={"selectedIds": person["id"], "token": valid},
        timeout=10,
    )
    assert r.status_code == 401
    assert harness.contacts()["grace@example.com"]["permission"] == 1


def test_a_token_of_another_company_sees_nothing_of_this_one(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    globex = harness.install(user_id=GLOBEX_USER)
    assert (
        "Settings saved"
        in harness.save_settings(globex, maileon_api_key=MAILEON_KEY, contacts_sync=True).text
    )
    foreign = make_token(harness, company=GLOBEX, user=GLOBEX_USER)

    page = open_panel(harness, person["id"], foreign)
    assert page.status_code == 200  # a valid token of an installed company: the shell
    r = status(harness, person["id"], foreign)
    assert r.status_code == 200
    assert "Person not found" in r.text
    assert "grace@example.com" not in r.text and "Grace" not in r.text
    assert 'id="pm-subscribe"' not in r.text
    r = act(harness, "subscribe", person["id"], foreign)
    assert "not found" in snackbar(r)["message"] and not snackbar(r)["ok"]
    assert harness.contacts()["grace@example.com"]["permission"] == 1
    assert harness.newsletter_of(person["id"]) == ""

    # a company that never installed the app, and a user of this company who did not
    for token in (
        make_token(harness, company=3003, user=701),
        make_token(harness, company=COMPANY, user=999),
    ):
        page = open_panel(harness, person["id"], token)
        assert page.status_code == 403 and "Authorize the app first" in page.text
        assert status(harness, person["id"], token).status_code == 403
        assert "Grace" not in page.text


def test_app_not_configured_offers_the_settings(harness: Harness) -> None:
    harness.install()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    r = status(harness, person["id"], make_token(harness))
    assert r.status_code == 200
    assert "Maileon is not set up yet" in r.text
    assert 'data-pm-redirect="settings"' in r.text and 'href="/settings"' in r.text
    assert 'id="pm-subscribe"' not in r.text


def test_person_without_email_and_with_invalid_email(harness: Harness) -> None:
    harness.setup_company()
    nobody = harness.create_person(name="No Mail")
    broken = harness.create_person(name="Broken Mail", email="broken@")
    harness.settle()
    token = make_token(harness)
    r = status(harness, nobody["id"], token)
    assert "No email address" in r.text and 'id="pm-subscribe"' not in r.text
    r = status(harness, broken["id"], token)
    assert "Email address not valid" in r.text
    assert "Last failure" in r.text and "is not valid" in r.text


def test_not_in_maileon_then_subscribe_without_doi(harness: Harness) -> None:
    harness.setup_company(contacts_sync=False, initial_permission=3)
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    token = make_token(harness)
    r = status(harness, person["id"], token)
    assert "Not in Maileon" in r.text
    assert 'id="pm-subscribe"' in r.text and 'id="pm-unsubscribe"' not in r.text
    assert "gets the permission Confirmed opt-in" in r.text  # the confirmation's words

    r = act(harness, "subscribe", person["id"], make_token(harness))
    assert r.status_code == 200
    assert snackbar(r)["ok"] and "subscribed with permission 3" in snackbar(r)["message"]
    assert "Subscribed with permission Confirmed opt-in" in r.text
    contact = harness.contacts()["grace@example.com"]
    assert contact["permission"] == 3 and not contact["unsubscribed"]
    assert contact["external_id"] == str(person["id"])
    assert harness.newsletter_of(person["id"]) == "Subscribed"
    harness.settle()  # the echo of the Newsletter field write changes nothing
    assert harness.contacts()["grace@example.com"]["permission"] == 3
    r = status(harness, person["id"], token)
    assert "Subscribed with permission Confirmed opt-in" in r.text
    assert 'id="pm-unsubscribe"' in r.text and 'id="pm-subscribe"' not in r.text


def test_no_permission_subscribe_with_doi_then_confirmed(harness: Harness) -> None:
    harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", initial_permission=4)
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    token = make_token(harness)
    r = status(harness, person["id"], token)
    assert "No permission" in r.text and "Last sync" in r.text and "just now" in r.text
    assert "double opt-in email" in r.text

    r = act(harness, "subscribe", person["id"], token)
    assert snackbar(r)["ok"] and "double opt-in started" in snackbar(r)["message"]
    assert "Double opt-in pending" in r.text
    contact = harness.contacts()["grace@example.com"]
    assert contact["doi_pending"] and contact["permission"] == 1
    assert contact["doi_mailing"] == "doi-key-1"
    assert harness.newsletter_of(person["id"]) == "Pending confirmation"
    harness.settle()
    assert "Double opt-in pending" in status(harness, person["id"], token).text

    harness.ml("POST", "/_sim/contacts/confirm_doi", json={"email": "grace@example.com"})
    assert "Subscribed with permission Double opt-in" in status(harness, person["id"], token).text


def test_unsubscribe_reaches_maileon_and_the_newsletter_field(harness: Harness) -> None:
    harness.setup_company(initial_permission=2)
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    token = make_token(harness)
    assert snackbar(act(harness, "subscribe", person["id"], token))["ok"]
    harness.settle()

    r = act(harness, "unsubscribe", person["id"], token)
    assert r.status_code == 200
    assert snackbar(r) == {
        "message": f"Grace Hopper (#{person['id']}): unsubscribed in Maileon",
        "ok": True,
    }
    assert "Unsubscribed" in r.text and 'id="pm-unsubscribe"' not in r.text
    state = harness.ml("GET", "/_sim/state")
    assert [u["email"] for u in state["unsubscriptions"]] == ["grace@example.com"]
    assert "grace@example.com" not in harness.contacts()  # Maileon anonymizes it
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    harness.settle()  # the echo neither re-creates nor re-subscribes the contact
    assert "grace@example.com" not in harness.contacts()
    r = status(harness, person["id"], token)
    assert "Unsubscribed" in r.text and 'id="pm-subscribe"' in r.text

    # an explicit Subscribe in the panel re-subscribes
    r = act(harness, "subscribe", person["id"], token)
    assert snackbar(r)["ok"]
    assert harness.contacts()["grace@example.com"]["permission"] == 2
    assert harness.newsletter_of(person["id"]) == "Subscribed"


def test_maileon_unreachable(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    token = make_token(harness)
    harness.ml("POST", "/_sim/down", json={"down": True})
    try:
        r = status(harness, person["id"], token)
        assert r.status_code == 200
        assert "Maileon is unreachable" in r.text and "Try again" in r.text
        assert 'id="pm-subscribe"' not in r.text
        r = act(harness, "subscribe", person["id"], token)
        result = snackbar(r)
        assert not result["ok"] and "Could not subscribe" in result["message"]
        assert "Maileon is unavailable" in result["message"]
        assert harness.newsletter_of(person["id"]) == ""
    finally:
        harness.ml("POST", "/_sim/down", json={"down": False})
    assert "No permission" in status(harness, person["id"], token).text


def test_recent_deal_transactions_are_listed(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    conn = sqlite3.connect(harness.config.database_path)
    try:
        for i, (kind, title) in enumerate(
            [
                ("pipedrive_deal_added", "Website redesign"),
                ("pipedrive_deal_updated", "Website redesign"),
                ("pipedrive_deal_added", "Other person's deal"),
            ]
        ):
            conn.execute(
                "INSERT INTO deal_transactions (company_id, person_id, deal_id, type, "
                "title, sent_at) VALUES (?,?,?,?,?,?)",
                (
                    COMPANY,
                    person["id"] if i < 2 else person["id"] + 1000,
                    7 + i,
                    kind,
                    title,
                    time.time() - 60 + i,
                ),
            )
        conn.commit()
    finally:
        conn.close()
    r = status(harness, person["id"], make_token(harness))
    assert "Deal updated: Website redesign" in r.text
    assert "Deal added: Website redesign" in r.text
    assert r.text.index("Deal updated") < r.text.index("Deal added")  # newest first
    assert "Other person" not in r.text


def test_actions_refuse_cross_site_requests_and_missing_tokens(harness: Harness) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    token = make_token(harness)
    assert act(harness, "subscribe", person["id"], token, site="cross-site").status_code == 403
    assert act(harness, "unsubscribe", person["id"], None).status_code == 401
    assert harness.contacts()["grace@example.com"]["permission"] == 1
    assert harness.newsletter_of(person["id"]) == ""
