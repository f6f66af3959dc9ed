"""The sandbox shows its switches (issue #26, item 6): the simulated Maileon and Pipedrive each
have a control page, linked from their home pages, that switches an outage on and off, revokes
and restores a key or an authorization, sends 429s and sets latency, and the app sees it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_sync_health import POLL_MS, sign_in
from tests.harness import MAILEON_KEY, Harness

pytestmark = pytest.mark.browser


def ping(harness: Harness) -> int:
    return httpx.get(f"{harness.ml_url}/1.0/ping", auth=(MAILEON_KEY, ""), timeout=10).status_code


@pytest.mark.slow
def test_the_maileon_control_page_switches_faults_and_the_app_sees_them(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.setup_company()
    page.goto(f"{harness.ml_url}/")
    page.get_by_role("link", name="Controls: outage, API keys, rate limits, latency").click()
    expect(page.get_by_role("heading", name="Simulated Maileon · Controls")).to_be_visible()
    page.screenshot(path=str(artifacts / "sandbox-maileon-controls.png"), full_page=True)

    page.get_by_role("button", name="Switch an outage on").click()
    expect(page.get_by_role("status")).to_contain_text("Outage on")
    expect(page.locator("#outage-state")).to_have_text("down: every API call gets 503")
    assert ping(harness) == 503
    page.screenshot(path=str(artifacts / "sandbox-maileon-controls-outage.png"), full_page=True)

    # the app meets the outage: its settings say so at the top
    app = page.context.new_page()
    sign_in(app, harness)
    harness.create_person(name="Ada Lovelace", email="ada@example.com")
    expect(app.locator("#status-line")).to_contain_text(
        "Sync is waiting: Maileon does not answer", timeout=POLL_MS
    )
    page.bring_to_front()
    page.get_by_role("button", name="Switch the outage off").click()
    expect(page.locator("#outage-state")).to_have_text("answering normally")
    assert ping(harness) == 200
    app.get_by_role("button", name="Try now").click()
    expect(app.locator("#status-line")).to_contain_text("Sync works.", timeout=POLL_MS)
    assert "ada@example.com" in harness.contacts()

    page.get_by_role("button", name=f"Revoke key {MAILEON_KEY}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Key {MAILEON_KEY} revoked")
    assert ping(harness) == 401
    page.get_by_role("button", name=f"Restore key {MAILEON_KEY}").click()
    assert ping(harness) == 200

    page.get_by_label("Answer the next … API calls with 429").fill("2")
    page.get_by_role("button", name="Send 429s").click()
    expect(page.get_by_text("the next 2 API calls get 429")).to_be_visible()
    assert [ping(harness), ping(harness), ping(harness)] == [429, 429, 200]

    page.get_by_label("Delay every API answer by (ms)").fill("300")
    page.get_by_role("button", name="Set latency").click()
    expect(page.get_by_role("status")).to_contain_text("delayed by 300 ms")
    page.get_by_role("button", name="Clear all faults").click()
    expect(page.get_by_text("0 ms per API answer")).to_be_visible()


def test_the_pipedrive_control_page_switches_an_outage_and_the_rate_limit(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.install()
    page.goto(f"{harness.pd_url}/")
    page.get_by_role("link", name="Controls: outage, authorizations, rate limits, latency").click()
    expect(page.get_by_role("heading", name="Simulated Pipedrive · Controls")).to_be_visible()
    api = f"{harness.pd_url}/api/v2/persons"
    assert httpx.get(api, timeout=10).status_code == 401  # answering (no token given)
    page.get_by_role("button", name="Switch an outage on").click()
    expect(page.locator("#outage-state")).to_have_text("down: every API call gets 503")
    assert httpx.get(api, timeout=10).status_code == 503
    page.screenshot(path=str(artifacts / "sandbox-pipedrive-controls.png"), full_page=True)
    page.get_by_role("button", name="Switch the outage off").click()
    assert httpx.get(api, timeout=10).status_code == 401

    page.get_by_label("Requests allowed per 2 seconds (now 80)").fill("3")
    page.get_by_role("button", name="Set the rate limit").click()
    expect(page.get_by_role("status")).to_contain_text("3 requests per 2 seconds")
    page.get_by_role("button", name="Revoke this user's authorization").click()
    expect(page.get_by_role("status")).to_contain_text("authorization revoked")
