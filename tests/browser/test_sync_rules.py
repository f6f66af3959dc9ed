"""An admin chooses "Which persons go to Maileon" in Chromium: picks a label rule and the
removal of persons that stop matching, sees the preview's counts, applies it and watches it
finish; the contacts outside the rule are gone from Maileon."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.harness import COMPANY, MAILEON_KEY, Harness

pytestmark = pytest.mark.browser


def test_configure_rules_preview_and_apply(page: Page, harness: Harness, artifacts: Path) -> None:
    customer = harness.pipedrive.option_id(COMPANY, "Labels", "Customer")
    page.goto(f"{harness.app_url}/oauth/install")
    page.get_by_role("button", name="Allow and install").click()
    expect(page).to_have_url(f"{harness.app_url}/settings")
    page.get_by_label("Maileon API key").fill(MAILEON_KEY)
    page.get_by_label("Contacts sync to Maileon").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()
    for n in range(3):
        harness.create_person(name=f"Cust {n}", email=f"cust{n}@example.com", label_ids=[customer])
    for n in range(2):
        harness.create_person(name=f"Supp {n}", email=f"supp{n}@example.com")
    harness.settle()
    assert len(harness.contacts()) == 5

    card = page.locator("#sync-rules")
    expect(card.get_by_role("heading", name="Which persons go to Maileon")).to_be_visible()
    expect(card.get_by_text("All persons with an email address").first).to_be_visible()
    card.get_by_label("Persons matching any of these rules:").check()
    card.get_by_label("Customer").check()
    card.get_by_label("Remove its contact from Maileon").check()
    card.get_by_role("button", name="Preview the effect").click()

    preview = card.locator("#rules-preview")
    expect(preview).to_have_text("3 persons match; 0 will be added, 2 removed.")
    assert len(harness.contacts()) == 5  # a preview changes nothing
    page.screenshot(path=str(artifacts / "sync-rules-preview.png"), full_page=True)

    # removing contacts needs a confirmation that names how many
    apply = card.get_by_role("button", name="Apply and remove 2 contacts")
    apply.click()
    assert len(harness.contacts()) == 5  # the browser asks for the tick first
    card.get_by_label("Yes, remove 2 contacts from Maileon").check()
    page.screenshot(path=str(artifacts / "sync-rules-confirm-removal.png"))
    apply.click()
    expect(
        card.get_by_text("Sync rules applied to 5 persons: 0 added to Maileon, 2 removed")
    ).to_be_visible(timeout=20_000)
    expect(card.locator("#rules-active")).to_contain_text("Persons whose label is Customer")
    harness.settle()
    assert sorted(harness.contacts()) == [
        "cust0@example.com",
        "cust1@example.com",
        "cust2@example.com",
    ]
