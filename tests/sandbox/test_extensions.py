"""The simulated Pipedrive's custom UI pages: iframes of the app's URLs with tokens it signs."""

from __future__ import annotations

import httpx
import jwt

from tests.harness import ADMIN, COMPANY, SALES, Harness


def test_before_install_the_person_page_says_the_app_is_unknown(harness: Harness) -> None:
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    page = httpx.get(f"{harness.pd_url}/ui/persons/{person['id']}/view", timeout=10)
    assert page.status_code == 200
    assert "The app is not known yet" in page.text and "<iframe" not in page.text


def test_pages_embed_the_apps_urls_with_a_token_for_the_signed_in_user(harness: Harness) -> None:
    harness.install()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    page = httpx.get(
        f"{harness.pd_url}/ui/persons/{person['id']}/view", params={"user": SALES}, timeout=10
    ).text
    assert f'data-src="{harness.app_url}/panel?resource=person' in page
    settings = httpx.get(
        f"{harness.pd_url}/ui/settings", params={"company": COMPANY}, timeout=10
    ).text
    assert f'data-src="{harness.app_url}/settings?resource=settings' in settings

    token = httpx.get(
        f"{harness.pd_url}/ui/extensions/token",
        params={"company": COMPANY, "user": ADMIN},
        timeout=10,
    ).text
    claims = jwt.decode(token, harness.config.client_secret, algorithms=["HS256"])
    assert (claims["companyId"], claims["userId"]) == (COMPANY, ADMIN)
    assert claims["exp"] - claims["iat"] == 300
    # a user of another company gets the company's admin instead
    other = httpx.get(
        f"{harness.pd_url}/ui/extensions/token",
        params={"company": COMPANY, "user": 601},
        timeout=10,
    ).text
    assert jwt.decode(other, options={"verify_signature": False})["userId"] == ADMIN
    assert (
        httpx.get(
            f"{harness.pd_url}/ui/extensions/token", params={"company": 9}, timeout=10
        ).status_code
        == 404
    )
    assert httpx.get(f"{harness.pd_url}/ui/persons/999999/view", timeout=10).status_code == 404
