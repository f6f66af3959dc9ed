"""The settings page (F4), webhook management (F5) and the Newsletter field (F6)."""

from __future__ import annotations

import time

import jwt

from tests.harness import ADMIN, COMPANY, MAILEON_KEY, SALES, Harness


def _hooks(harness: Harness) -> list[tuple[str, str]]:
    state = harness.pd("GET", "/_sim/state")
    return sorted(
        (w["event_object"], w["event_action"])
        for w in state["webhooks"]
        if w["company_id"] == COMPANY
    )


def _token(
    harness: Harness,
    user_id: int = ADMIN,
    company_id: int = COMPANY,
    exp_in: int = 300,
    secret: str | None = None,
) -> str:
    return harness.sign_token(user_id, company_id, exp_in, secret)


def test_every_field_has_its_label(harness: Harness) -> None:
    client = harness.install()
    page = client.get(f"{harness.app_url}/settings").text
    for control, label in [
        ("maileon_api_key", "Maileon API key"),
        ("initial_permission", "Initial permission"),
        ("doi_enabled", "DOI process"),
        ("doi_mailing_key", "DOI mailing ID"),
        ("contacts_sync", "Contacts sync to Maileon"),
        ("deals_sync", "Deals sync to Maileon"),
        *[(f"custom_field_{i}", f"Custom field {i}") for i in range(1, 6)],
    ]:
        assert f'<label for="{control}">{label}</label>' in page
        assert f'id="{control}"' in page
    assert ">Save</button>" in page
    # The drop-downs list the company's custom person fields by name.
    for name in ("Score", "Budget", "Tier", "Interests"):
        assert f">{name}</option>" in page


def test_a_bad_key_is_explained_and_nothing_saved(
    harness: Harness,
) -> None:
    client = harness.install()
    r = harness.save_settings(client, maileon_api_key="not-a-valid-key-123", contacts_sync=True)
    assert r.status_code == 422
    assert "invalid or has expired" in r.text
    assert _hooks(harness) == []
    assert "Key status" not in client.get(f"{harness.app_url}/settings").text


def test_key_without_privileges_and_unreachable_maileon(harness: Harness) -> None:
    harness.ml(
        "POST",
        "/_sim/keys",
        json={"key": "read-only-key-0001", "account": "demo", "methods": ["GET"]},
    )
    client = harness.install()
    r = harness.save_settings(client, maileon_api_key="read-only-key-0001")
    assert r.status_code == 422 and "lacks privileges" in r.text
    assert "POST, PUT, DELETE" in r.text
    harness.ml("POST", "/_sim/down", json={"down": True})
    r = harness.save_settings(client, maileon_api_key=MAILEON_KEY)
    assert r.status_code == 422 and "could not be reached" in r.text


def test_saving_twice_registers_no_duplicate_and_sync_off_removes_webhooks(
    harness: Harness,
) -> None:
    client = harness.setup_company(deals_sync=True)
    expected = sorted([(o, a) for o in ("deal", "person") for a in ("change", "create", "delete")])
    assert _hooks(harness) == expected
    assert harness.save_settings(client, contacts_sync=True, deals_sync=True).status_code == 200
    assert _hooks(harness) == expected
    assert harness.save_settings(client, contacts_sync=True).status_code == 200
    assert _hooks(harness) == [("person", "change"), ("person", "create"), ("person", "delete")]
    assert harness.save_settings(client).status_code == 200
    assert _hooks(harness) == []


def test_two_admins_of_one_company_share_settings_and_webhooks(harness: Harness) -> None:
    harness.setup_company()
    second = harness.install(user_id=ADMIN)  # a second browser session of the same company
    page = second.get(f"{harness.app_url}/settings").text
    assert "A key is set" in page
    assert 'id="contacts_sync" name="contacts_sync" type="checkbox" value="1" checked' in page
    assert harness.save_settings(second, contacts_sync=True).status_code == 200
    assert len(_hooks(harness)) == 3


def test_non_admin_sees_read_only_settings_and_cannot_save(harness: Harness) -> None:
    harness.setup_company()
    sales = harness.install(user_id=SALES)
    page = sales.get(f"{harness.app_url}/settings").text
    assert "read-only" in page and "<fieldset disabled>" in page
    r = harness.save_settings(sales, contacts_sync=False)
    assert r.status_code == 403
    assert len(_hooks(harness)) == 3


def test_cross_site_post_is_refused(harness: Harness) -> None:
    client = harness.setup_company()
    r = client.post(
        f"{harness.app_url}/settings",
        data={"contacts_sync": ""},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    r = client.post(
        f"{harness.app_url}/settings",
        data={"contacts_sync": ""},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403
    r = client.post(f"{harness.app_url}/settings", data={"contacts_sync": ""})
    assert r.status_code == 403  # a cookie alone, without browser headers, is not enough
    assert len(_hooks(harness)) == 3


def test_no_session_redirects_to_pipedrive_sign_in(harness: Harness) -> None:
    r = harness.browser().get(f"{harness.app_url}/settings")
    assert r.status_code == 303 and r.headers["location"].startswith("/oauth/install")


def test_custom_ui_settings_use_the_pipedrive_token(harness: Harness) -> None:
    harness.setup_company()
    anon = harness.browser()
    page = anon.get(f"{harness.app_url}/settings", params={"token": _token(harness)})
    assert page.status_code == 200 and "Acme Sales" in page.text
    assert "app-extensions-sdk.umd.js" in page.text
    forged = _token(harness, secret="wrong-secret-" + "x" * 40)
    for bad in (_token(harness, exp_in=-10), forged, "x.y.z"):
        r = anon.get(f"{harness.app_url}/settings", params={"token": bad})
        assert r.status_code == 401 and "Acme" not in r.text
    other = anon.get(
        f"{harness.app_url}/settings",
        params={"token": _token(harness, user_id=601, company_id=2002)},
    )
    assert other.status_code == 403 and "Acme" not in other.text
    # A save from the iframe carries the token in a header.
    r = anon.post(
        f"{harness.app_url}/settings",
        data={"initial_permission": "4"},
        headers={
            "X-Pipedrive-Token": _token(harness),
            "HX-Request": "true",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert r.status_code == 200 and "Settings saved" in r.text


def test_mapping_a_field_twice_is_refused(harness: Harness) -> None:
    client = harness.setup_company()
    state = harness.pd("GET", "/_sim/state")
    score = next(f["key"] for f in state["person_fields"] if f["name"] == "Score")
    r = harness.save_settings(
        client, contacts_sync=True, custom_field_1=score, custom_field_2=score
    )
    assert r.status_code == 422 and "only once" in r.text


def test_newsletter_field_and_maileon_fields_are_created_once(harness: Harness) -> None:
    client = harness.install()
    state = harness.pd("GET", "/_sim/state")
    tier = next(f["key"] for f in state["person_fields"] if f["name"] == "Tier")
    for _ in range(2):
        r = harness.save_settings(
            client, maileon_api_key=MAILEON_KEY, contacts_sync=True, custom_field_1=tier
        )
        assert r.status_code == 200, r.text
    fields = [
        f for f in harness.pd("GET", "/_sim/state")["person_fields"] if f["name"] == "Newsletter"
    ]
    assert len(fields) == 1
    assert [o["label"] for o in fields[0]["options"]] == [
        "Subscribed",
        "Pending confirmation",
        "Unsubscribed",
    ]
    custom = {f["name"]: f["type"] for f in harness.ml("GET", "/_sim/state")["custom_fields"]}
    assert custom["createdByPipedrive"] == "boolean" and custom["Tier"] == "string"


def test_a_token_without_any_time_limit_is_refused(harness: Harness) -> None:
    harness.setup_company()
    secret = harness.config.client_secret
    timeless = jwt.encode({"userId": ADMIN, "companyId": COMPANY}, secret, algorithm="HS256")
    old = jwt.encode(
        {"userId": ADMIN, "companyId": COMPANY, "iat": int(time.time()) - 3600},
        secret,
        algorithm="HS256",
    )
    fresh = jwt.encode(
        {"userId": ADMIN, "companyId": COMPANY, "iat": int(time.time())}, secret, algorithm="HS256"
    )
    anon = harness.browser()
    assert anon.get(f"{harness.app_url}/settings", params={"token": timeless}).status_code == 401
    assert anon.get(f"{harness.app_url}/settings", params={"token": old}).status_code == 401
    assert anon.get(f"{harness.app_url}/settings", params={"token": fresh}).status_code == 200


def test_pipedrive_refusing_webhooks_is_explained(harness: Harness) -> None:
    client = harness.install()
    harness.pd(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/api/v1/webhooks", "method": "POST", "status": 422, "count": 1},
    )
    r = harness.save_settings(client, maileon_api_key=MAILEON_KEY, contacts_sync=True)
    assert "limit of 40 webhooks" in r.text
    harness.pd(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/api/v1/webhooks", "method": "POST", "status": 403, "count": 1},
    )
    r = harness.save_settings(client, contacts_sync=True)
    assert "only admins to register webhooks" in r.text
    r = harness.save_settings(client, contacts_sync=True)  # the next save completes the setup
    assert len(_hooks(harness)) == 3


def test_the_saved_notice_says_how_many_webhooks_are_in_place(harness: Harness) -> None:
    client = harness.install()
    r = harness.save_settings(client, maileon_api_key=MAILEON_KEY, contacts_sync=True)
    assert "3 Pipedrive webhooks registered; 3 Pipedrive webhooks in place" in r.text
    r = harness.save_settings(client, contacts_sync=True, deals_sync=True)
    assert "3 Pipedrive webhooks registered; 6 Pipedrive webhooks in place" in r.text
    r = harness.save_settings(client)
    assert "no Pipedrive webhook in place (sync is off)" in r.text
