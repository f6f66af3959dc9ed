"""Issue #13, item 2: admin rights follow Pipedrive. An admin demoted in Pipedrive sees the
settings read-only and every change (save, import, retry, cancel) is refused with a clear
403; a user promoted in Pipedrive may change them without reinstalling."""

from __future__ import annotations

import httpx

from tests.harness import ADMIN, SALES, Harness


def hx(harness: Harness) -> dict[str, str]:
    return {"HX-Request": "true", "Origin": harness.app_url}


def changes(harness: Harness, client: httpx.Client) -> dict[str, httpx.Response]:
    url = harness.app_url
    return {
        "save": harness.save_settings(client, contacts_sync=False),
        "import start": client.post(f"{url}/settings/import/start", data={}, headers=hx(harness)),
        "import cancel": client.post(f"{url}/settings/import/cancel", headers=hx(harness)),
        "import resume": client.post(f"{url}/settings/import/resume", headers=hx(harness)),
        "retry": client.post(f"{url}/settings/retry", data={"job_id": ""}, headers=hx(harness)),
    }


def test_a_demoted_admin_can_change_nothing(harness: Harness) -> None:
    client = harness.setup_company()
    assert "read-only" not in client.get(f"{harness.app_url}/settings").text
    harness.pd("PATCH", f"/_sim/users/{ADMIN}", json={"is_admin": False})
    for name, r in changes(harness, client).items():
        assert r.status_code == 403, (name, r.status_code)
        assert "not an admin" in r.text, name
    assert harness.rows("SELECT contacts_sync FROM settings") == [(1,)]
    assert harness.rows("SELECT count(*) FROM imports") == [(0,)]
    page = client.get(f"{harness.app_url}/settings").text
    assert "read-only" in page
    assert harness.rows("SELECT is_admin FROM installations WHERE user_id=?", (ADMIN,)) == [(0,)]


def test_viewing_follows_pipedrive_within_minutes_and_a_promotion_counts(harness: Harness) -> None:
    harness.setup_company()
    sales = harness.install(user_id=SALES)
    assert "read-only" in sales.get(f"{harness.app_url}/settings").text
    harness.pd("PATCH", f"/_sim/users/{SALES}", json={"is_admin": True})
    r = harness.save_settings(sales, contacts_sync=True, deals_sync=True)
    assert r.status_code == 200 and "Settings saved" in r.text
    assert harness.rows("SELECT deals_sync FROM settings") == [(1,)]
    assert "read-only" not in sales.get(f"{harness.app_url}/settings").text


def test_every_change_asks_pipedrive_with_the_users_own_token(harness: Harness) -> None:
    client = harness.setup_company()
    harness.install(user_id=SALES)
    before = [
        q for q in harness.pd("GET", "/_sim/state")["requests"] if q["path"] == "/api/v1/users/me"
    ]
    harness.save_settings(client, contacts_sync=True)
    asked = [
        q for q in harness.pd("GET", "/_sim/state")["requests"] if q["path"] == "/api/v1/users/me"
    ][len(before) :]
    assert asked and {q["user_id"] for q in asked} == {ADMIN}


def test_an_admin_of_another_pipedrive_app_only_can_change_nothing(harness: Harness) -> None:
    """Issue #22, item 2: `access[]` lists rights per app; only global or sales admin counts."""
    harness.setup_company()
    sales = harness.install(user_id=SALES)
    harness.pd(
        "PATCH",
        f"/_sim/users/{SALES}",
        json={
            "access": [
                {"app": "sales", "admin": False},
                {"app": "campaigns", "admin": True},
                {"app": "projects", "admin": True},
            ]
        },
    )
    for name, r in changes(harness, sales).items():
        assert r.status_code == 403, (name, r.status_code)
        assert "not an admin" in r.text, name
    assert harness.rows("SELECT contacts_sync FROM settings") == [(1,)]
    assert "read-only" in sales.get(f"{harness.app_url}/settings").text

    harness.pd("PATCH", f"/_sim/users/{SALES}", json={"access": [{"app": "global", "admin": True}]})
    r = harness.save_settings(sales, contacts_sync=True, deals_sync=True)
    assert r.status_code == 200 and "Settings saved" in r.text


def test_is_admin_counts_only_when_the_answer_has_no_access_list(harness: Harness) -> None:
    harness.setup_company()
    sales = harness.install(user_id=SALES)
    harness.pd("PATCH", f"/_sim/users/{SALES}", json={"is_admin": True})
    harness.pd("PATCH", f"/_sim/users/{SALES}", json={"access": None})  # pre-2022 schema
    r = harness.save_settings(sales, contacts_sync=True, deals_sync=True)
    assert r.status_code == 200 and "Settings saved" in r.text
