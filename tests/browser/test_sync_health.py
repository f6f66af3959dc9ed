"""The sync health card and log as an admin reads them: persons and deals by name, an outage
in words while it lasts, and gone once the service answers again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.harness import COMPANY, Harness

pytestmark = pytest.mark.browser

POLL_MS = 25_000  # the card polls every 10 s; a loaded machine gets a generous margin


def sign_in(page: Page, harness: Harness) -> None:
    """The settings page in this browser, for a company set up over HTTP."""
    page.goto(f"{harness.app_url}/oauth/install")
    page.get_by_role("button", name="Allow and install").click()
    expect(page).to_have_url(f"{harness.app_url}/settings")


@pytest.mark.slow
def test_log_names_people_and_deals_and_an_outage_shows_until_it_ends(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.setup_company(deals_sync=True)
    sign_in(page, harness)
    ada = harness.create_person(name="Ada Lovelace", email="ada@example.com")
    harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": "Big deal", "value": 100, "person_id": ada["id"]},
    )
    harness.settle()
    page.reload()

    log = page.locator("table.log")
    ada_row = log.locator("tr", has_text="Ada Lovelace → Maileon").first
    expect(ada_row).to_contain_text("Done")
    deal_row = log.locator("tr", has_text="Deal 'Big deal' → Maileon").first
    expect(deal_row).to_contain_text("pipedrive_deal_added")
    expect(log).not_to_contain_text("periodic.")  # no job kinds, no routine maintenance
    when = ada_row.locator("time")
    expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    page.locator("#health").screenshot(path=str(artifacts / "sync-log-words.png"))

    page.get_by_role("link", name="Failures only (0)").click()
    expect(log).to_contain_text("No failures.")
    page.get_by_role("link", name="All").click()

    # Maileon goes down: the change waits, and the card says so without a reload
    harness.ml("POST", "/_sim/down", json={"down": True})
    harness.pd("PATCH", f"/_sim/persons/{ada['id']}", json={"name": "Ada King"})
    outage = page.locator(".outage")
    expect(outage).to_contain_text("Maileon is not answering since", timeout=POLL_MS)
    expect(outage).to_contain_text("1 change waits")
    expect(outage).to_contain_text("next try")
    expect(outage).to_contain_text("Maileon is unavailable (503)")
    waiting = log.locator("tr.waiting")
    expect(waiting).to_contain_text("Ada King → Maileon")
    expect(waiting).to_contain_text("Waiting to retry")
    page.locator("#health").screenshot(path=str(artifacts / "sync-health-outage.png"))

    # it answers again: the waiting change goes through and the outage text clears
    harness.ml("POST", "/_sim/down", json={"down": False})
    expect(outage).to_have_count(0, timeout=POLL_MS)
    expect(log.locator("tr.waiting")).to_have_count(0)
    expect(log.locator("tr", has_text="Ada King → Maileon").first).to_contain_text("Done")
    assert harness.contacts()["ada@example.com"]["standard_fields"]["FULLNAME"] == "Ada King"
    page.locator("#health").screenshot(path=str(artifacts / "sync-health-recovered.png"))
