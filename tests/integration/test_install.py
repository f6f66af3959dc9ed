"""Install, token lifecycle and uninstall (F1 to F3) against the simulated Pipedrive."""

from __future__ import annotations

import base64

import httpx

from tests.harness import ADMIN, COMPANY, SALES, Harness


def _consent(
    harness: Harness, client: httpx.Client, action: str = "allow", user_id: int = ADMIN
) -> httpx.Response:
    authorize = client.get(f"{harness.app_url}/oauth/install").headers["location"]
    params = dict(httpx.URL(authorize).params)
    return client.post(
        f"{harness.pd_url}/oauth/authorize",
        data={**params, "user_id": str(user_id), "action": action},
    )


def test_install_lands_on_settings_with_the_company(harness: Harness) -> None:
    client = harness.install()
    page = client.get(f"{harness.app_url}/settings")
    assert page.status_code == 200
    assert "Acme Sales" in page.text and "Ada Admin" in page.text
    assert harness.rows("SELECT company_id, user_id, is_admin FROM installations") == [
        (COMPANY, ADMIN, 1)
    ]


def test_cancel_on_the_consent_page_ends_on_a_friendly_page(harness: Harness) -> None:
    client = harness.browser()
    r = _consent(harness, client, action="deny")
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert "Installation cancelled" in page.text
    assert harness.rows("SELECT * FROM installations") == []


def test_replayed_state_is_rejected(harness: Harness) -> None:
    client = harness.browser()
    callback = _consent(harness, client).headers["location"]
    assert client.get(callback).status_code == 303
    replay = client.get(callback)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.text


def test_forged_state_and_state_from_another_browser_are_rejected(harness: Harness) -> None:
    client = harness.browser()
    callback = httpx.URL(_consent(harness, client).headers["location"])
    forged = callback.copy_merge_params({"state": "forged.state.value"})
    assert client.get(str(forged)).status_code == 400
    other_browser = harness.browser()  # has no binding cookie for this state
    assert other_browser.get(str(callback)).status_code == 400
    assert harness.rows("SELECT * FROM installations") == []


def test_marketplace_install_without_state_restarts_through_the_installation_url(
    harness: Harness,
) -> None:
    client = harness.browser()
    authorize = client.get(f"{harness.app_url}/oauth/install").headers["location"]
    params = {k: v for k, v in httpx.URL(authorize).params.items() if k != "state"}
    r = client.post(
        f"{harness.pd_url}/oauth/authorize",
        data={**params, "user_id": str(SALES), "action": "allow"},
    )
    fresh = harness.browser()  # no cookies at all, like a Marketplace redirect
    restart = fresh.get(r.headers["location"])
    assert restart.status_code == 303 and restart.headers["location"] == "/oauth/install"
    assert harness.rows("SELECT count(*) FROM installations") == [(0,)]
    harness.install(user_id=SALES, client=fresh)  # the restarted flow carries a state
    assert harness.rows("SELECT company_id, user_id, is_admin FROM installations") == [
        (COMPANY, SALES, 0)
    ]


def test_expired_access_token_is_refreshed_once_for_concurrent_calls(harness: Harness) -> None:
    harness.setup_company()
    orgs = [
        harness.pd("POST", "/_sim/organizations", json={"company_id": COMPANY, "name": f"Org {i}"})[
            "id"
        ]
        for i in range(6)
    ]
    harness.pd("POST", "/_sim/expire_tokens")
    before = harness.pd("GET", "/_sim/state")["refresh_calls"]
    for i, org in enumerate(orgs):
        harness.create_person(name=f"P {i}", email=f"p{i}@example.com", org_id=org)
    harness.settle()
    state = harness.pd("GET", "/_sim/state")
    assert state["refresh_calls"] - before == 1
    contacts = harness.contacts()
    assert {contacts[f"p{i}@example.com"]["standard_fields"]["ORGANIZATION"] for i in range(6)} == {
        f"Org {i}" for i in range(6)
    }


def test_revoked_refresh_token_marks_installation_for_reauthorization(harness: Harness) -> None:
    client = harness.setup_company()
    org = harness.pd("POST", "/_sim/organizations", json={"company_id": COMPANY, "name": "X"})
    harness.pd("POST", "/_sim/revoke", json={"user_id": ADMIN})
    harness.create_person(name="Lost Access", email="lost@example.com", org_id=org["id"])
    harness.settle()
    page = client.get(f"{harness.app_url}/settings")
    assert "needs re-authorization" in page.text
    assert "Re-authorize" in page.text
    assert "please re-authorize the app" in page.text  # the failed job's reason in the log
    # Re-authorizing through the install flow brings the installation back.
    harness.install(client=client)
    assert harness.rows("SELECT status FROM installations") == [("active",)]


def _uninstall(harness: Harness, auth: str | None, user_id: int = ADMIN) -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    return httpx.request(
        "DELETE",
        f"{harness.app_url}/oauth/callback",
        headers=headers,
        json={
            "client_id": harness.config.client_id,
            "company_id": COMPANY,
            "user_id": user_id,
            "timestamp": "2026-11-27T10:00:00Z",
        },
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_uninstall_needs_the_client_credentials(harness: Harness) -> None:
    harness.setup_company()
    assert _uninstall(harness, None).status_code == 401
    assert _uninstall(harness, _basic(harness.config.client_id, "wrong")).status_code == 401
    assert _uninstall(harness, "Basic !!!").status_code == 401
    assert harness.rows("SELECT count(*) FROM installations") == [(1,)]


def test_uninstall_of_the_last_user_wipes_the_company(harness: Harness) -> None:
    harness.setup_company()
    harness.install(user_id=SALES)
    good = _basic(harness.config.client_id, harness.config.client_secret)
    r = _uninstall(harness, good, user_id=SALES)
    assert r.status_code == 200 and r.json()["company_data_deleted"] is False
    assert harness.rows("SELECT count(*) FROM settings") == [(1,)]
    harness.create_person(name="Before", email="before@example.com")
    harness.settle()
    r = _uninstall(harness, good, user_id=ADMIN)
    assert r.json()["company_data_deleted"] is True
    for table in (
        "companies",
        "installations",
        "settings",
        "events",
        "jobs",
        "sync_log",
        "persons",
    ):
        assert harness.rows(f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608


def test_uninstall_sent_by_pipedrive_is_accepted(harness: Harness) -> None:
    harness.setup_company()
    harness.pd("POST", "/_sim/uninstall", json={"user_id": ADMIN})
    harness.pd("POST", "/_sim/idle?timeout=5")
    assert harness.rows("SELECT count(*) FROM companies") == [(0,)]
