"""A person clicks through install and the settings in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.harness import MAILEON_KEY, Harness

pytestmark = pytest.mark.browser


def test_install_then_fill_settings_by_label(page: Page, harness: Harness, artifacts: Path) -> None:
    page.goto(f"{harness.app_url}/oauth/install")
    expect(page.get_by_role("button", name="Allow and install")).to_be_visible()
    page.get_by_role("button", name="Allow and install").click()
    expect(page).to_have_url(f"{harness.app_url}/settings")
    expect(page.get_by_text("Acme Sales")).to_be_visible()

    page.get_by_label("Maileon API key").fill("wrong-key-000000")
    page.get_by_label("Contacts sync to Maileon").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("invalid or has expired")).to_be_visible()

    key = page.get_by_label("Maileon API key")
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(key).to_have_accessible_description(re.compile("invalid or has expired"))
    key.fill("short")
    page.get_by_role("button", name="Save").click()
    expect(
        page.get_by_text("A Maileon API key has 12 to 265 characters; this one has 5.")
    ).to_be_visible()

    # a new company starts with the DOI process on: the DOI mailing ID shows and Initial
    # permission says it applies only without DOI; with DOI off the ID hides
    permission = page.get_by_label("Initial permission")
    expect(page.get_by_label("DOI process")).to_be_checked()
    expect(page.get_by_label("DOI mailing ID")).to_be_visible()
    expect(permission).to_have_accessible_description(re.compile("Applies only without the DOI"))
    page.get_by_label("DOI process").uncheck()
    expect(page.get_by_label("DOI mailing ID")).to_be_hidden()
    expect(permission).to_have_accessible_description(re.compile("Given to a contact when"))
    page.get_by_label("Maileon API key").fill(MAILEON_KEY)
    page.get_by_label("DOI process").check()
    expect(page.get_by_label("DOI mailing ID")).to_be_visible()
    page.get_by_label("DOI mailing ID").fill("kh68gb7")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("No DOI mailing of this Maileon account has")).to_be_visible()
    # the refused save kept what was typed, and the error belongs to its field
    expect(page.get_by_label("Maileon API key")).to_have_value(MAILEON_KEY)
    expect(page.get_by_label("Maileon API key")).not_to_have_attribute("aria-invalid", "true")
    mailing = page.get_by_label("DOI mailing ID")
    expect(mailing).to_have_attribute("aria-invalid", "true")
    expect(mailing).to_have_accessible_description(re.compile("No DOI mailing of this Maileon"))
    expect(page.get_by_label("Contacts sync to Maileon")).to_be_checked()
    page.screenshot(path=str(artifacts / "settings-refused-keeps-key.png"), full_page=True)

    mailing.fill("doi-key-1")
    page.get_by_label("Initial permission").select_option(label="Double opt-in")
    page.get_by_label("Custom field 1").select_option(label="Tier")
    harness.ml("POST", "/_sim/latency", json={"ms": 1500})  # a slow key check
    save = page.get_by_role("button", name="Save")
    save.click()
    expect(save).to_be_disabled()  # no second save while one is in flight
    harness.ml("POST", "/_sim/reset_faults")
    expect(page.get_by_text("Settings saved")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("button", name="Save")).to_be_enabled()
    expect(page.get_by_text("all 3 present")).to_be_visible()  # the health section follows
    page.screenshot(path=str(artifacts / "settings-saved.png"), full_page=True)

    page.reload()
    expect(page.get_by_label("Contacts sync to Maileon")).to_be_checked()
    expect(page.get_by_label("DOI process")).to_be_checked()
    expect(page.get_by_label("DOI mailing ID")).to_have_value("doi-key-1")
    expect(page.get_by_label("Custom field 1")).to_have_value(
        page.get_by_label("Custom field 1").input_value()
    )
    assert (
        page.get_by_label("Custom field 1").evaluate("el => el.options[el.selectedIndex].text")
        == "Tier"
    )
    expect(page.get_by_text("all 3 present")).to_be_visible()


def test_sync_log_shows_a_failure_and_retry_fixes_it(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    page.goto(f"{harness.app_url}/oauth/install")
    page.get_by_role("button", name="Allow and install").click()
    page.get_by_label("Maileon API key").fill(MAILEON_KEY)
    page.get_by_label("Contacts sync to Maileon").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()

    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Retry Rita", email="rita@example.com")
    harness.settle()
    page.reload()
    page.get_by_role("link", name="Failures only (1)").click()
    row = page.locator("table.log tr.failed").first
    expect(row).to_contain_text("Maileon rejected the credentials")
    page.screenshot(path=str(artifacts / "sync-log-failure.png"), full_page=True)

    harness.ml(
        "POST",
        "/_sim/keys",
        json={"key": MAILEON_KEY, "account": "demo", "methods": ["GET", "POST", "PUT", "DELETE"]},
    )
    row.get_by_role("button", name="Retry").click()
    harness.settle()
    page.get_by_role("link", name="All").click()
    expect(page.locator("table.log tr.ok").first).to_contain_text("Retry Rita")
    assert "rita@example.com" in harness.contacts()
