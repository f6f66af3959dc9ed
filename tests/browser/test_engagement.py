"""F15 in Chromium: a mailing sent in the simulated Maileon's UI, opened, clicked and hard-bounced
there as the recipient, shows in the Newsletter panel on the person page of the simulated
Pipedrive, with the bounce note and the person fields the app wrote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_panel import open_person
from tests.harness import Harness
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def test_mailing_engagement_reaches_the_panel_and_pipedrive(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    h = harness
    h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    key, options = h.newsletter_field()
    ada = h.create_person(
        name="Ada Lovelace", email="ada@example.com", custom_fields={key: options["Subscribed"]}
    )
    wait_until(lambda: h.contacts().get("ada@example.com", {}).get("doi_pending"))
    h.ml("POST", "/_sim/contacts/confirm_doi", json={"email": "ada@example.com"})
    h.settle()

    # the recipient's side, in the simulated Maileon
    page.goto(f"{h.ml_url}/mailings")
    page.get_by_label("Mailing name").fill("November news")
    page.get_by_label("ada@example.com").check()
    page.get_by_role("button", name="Send mailing").click()
    expect(page.get_by_role("status")).to_contain_text("sent to 1 contact")
    for action in ("Open", "Click", "Hard bounce"):
        page.get_by_role("button", name=f"{action} as ada@example.com in November news").click()
        expect(page.get_by_role("status")).to_contain_text("ada@example.com")
    wait_until(lambda: h.pipedrive.notes.notes_of(ada["id"]), timeout=20)
    h.settle()

    # the sales side: the person page in the simulated Pipedrive
    frame = open_person(page, h, ada["id"])
    panel = frame.locator("#pm-engagement")
    expect(panel).to_contain_text("November news", timeout=15_000)
    expect(panel).to_contain_text("Bounced (hard, 5.1.1)")
    expect(panel).to_contain_text("Clicked: https://example.com/offer")
    # the panel's refresh read the click and wrote the field: the page shows it once reloaded
    wait_until(lambda: "Last newsletter click" in str(h.pd("GET", "/_sim/state")["person_fields"]))
    h.settle()
    page.reload()
    expect(page.locator("article.note")).to_contain_text("Newsletter hard bounce")
    expect(page.locator("article.note")).to_contain_text("Mailing: November news")
    row = page.locator("tr", has=page.locator("th", has_text="Email bounced"))
    expect(row.locator("td")).to_have_text(re.compile(r"\d{4}-\d{2}-\d{2}"))
    row = page.locator("tr", has=page.locator("th", has_text="Last newsletter click"))
    expect(row.locator("td")).to_have_text(re.compile(r"\d{4}-\d{2}-\d{2}"))
    page.screenshot(path=str(artifacts / "sandbox-person-engagement.png"), full_page=True)
