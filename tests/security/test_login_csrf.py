"""Issue #23, item 1: login CSRF through the query-string JWT. An attacker sends a signed-in
admin a link to `/settings?token=<the attacker's own fresh token>`; the page must not open as
the attacker's company, and nothing the victim saves may land there. A query token identifies
only Pipedrive's framed GET of /settings and /panel."""

from __future__ import annotations

from tests.harness import ADMIN, MAILEON_KEY, Harness

ATTACKER, ATTACKER_COMPANY = 601, 2002  # Gina, admin of Globex in the simulated Pipedrive


def attacker_settings(harness: Harness) -> tuple[str, str]:
    rows = harness.rows(
        "SELECT maileon_key_status, coalesce(maileon_api_key, '') FROM settings WHERE company_id=?",
        (ATTACKER_COMPANY,),
    )
    return rows[0] if rows else ("unset", "")


def test_a_link_with_another_users_token_never_replaces_the_session(harness: Harness) -> None:
    harness.install(user_id=ATTACKER)
    victim = harness.install(user_id=ADMIN)
    token = harness.sign_token(user_id=ATTACKER, company_id=ATTACKER_COMPANY)
    before = attacker_settings(harness)

    # the link opened as a page: the victim's own settings, without the attacker's token
    page = victim.get(
        f"{harness.app_url}/settings",
        params={"token": token},
        headers={"Sec-Fetch-Dest": "document"},
    )
    assert page.status_code == 200
    assert token not in page.text and "Globex" not in page.text and "Acme Sales" in page.text

    # a browser that does not say where the page opens: refused, never switched silently
    page = victim.get(f"{harness.app_url}/settings", params={"token": token})
    assert page.status_code == 409 and token not in page.text
    assert "Signed in as another user" in page.text

    # a save carrying the token in its URL is the victim's own, never the attacker's company's
    r = victim.post(
        f"{harness.app_url}/settings",
        params={"token": token},
        data={"initial_permission": "2", "maileon_api_key": MAILEON_KEY, "contacts_sync": "1"},
        headers={"Origin": harness.app_url, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 200 and "Globex" not in r.text
    assert attacker_settings(harness) == before
    own = harness.rows("SELECT maileon_key_status FROM settings WHERE company_id=1001")
    assert own == [("valid",)]


def test_a_query_token_counts_only_in_pipedrives_frame(harness: Harness) -> None:
    harness.install(user_id=ADMIN)
    token = harness.sign_token(user_id=ADMIN)
    framed = {"Sec-Fetch-Dest": "iframe"}
    with harness.browser() as frame:  # a frame on pipedrive.com gets no SameSite=Lax cookie
        page = frame.get(f"{harness.app_url}/settings", params={"token": token}, headers=framed)
        assert page.status_code == 200 and token in page.text  # HTMX carries it in a header
        panel = frame.get(
            f"{harness.app_url}/panel", params={"token": token, "selectedIds": "1"}, headers=framed
        )
        assert panel.status_code == 200 and token in panel.text

        # the same links opened as a page, or any other route, identify nobody
        page = frame.get(
            f"{harness.app_url}/settings",
            params={"token": token},
            headers={"Sec-Fetch-Dest": "document"},
        )
        assert page.status_code == 303 and page.headers["location"].startswith("/oauth/install")
        panel = frame.get(
            f"{harness.app_url}/panel",
            params={"token": token, "selectedIds": "1"},
            headers={"Sec-Fetch-Dest": "document"},
        )
        assert panel.status_code == 401 and token not in panel.text
        health = frame.get(f"{harness.app_url}/settings/health", params={"token": token})
        assert health.status_code in (303, 401) and token not in health.text
        save = frame.post(
            f"{harness.app_url}/settings",
            params={"token": token},
            data={"initial_permission": "2", "maileon_api_key": MAILEON_KEY},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        assert save.status_code == 401
    assert harness.rows("SELECT maileon_key_status FROM settings WHERE company_id=1001") in (
        [],
        [("unset",)],
    )
