"""An admin maps Pipedrive's phone and an organization's city, adds a sixth field, changes a
target and re-sends it, in Chromium (F16, issue #28)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.harness import COMPANY, MAILEON_KEY, Harness
from tests.integration.test_field_mapping import add_field
from tests.integration.test_field_targets import org_with_address

pytestmark = pytest.mark.browser


def map_slot(page: Page, slot: int, source: str, kind: str = "", name: str = "") -> None:
    page.get_by_label(f"Custom field {slot}", exact=True).select_option(label=source)
    page.locator(f"#target_kind_{slot}").select_option(kind)
    page.get_by_label(f"Maileon field name, slot {slot}").fill(name)


def test_map_phone_city_and_a_sixth_field_then_resend_a_changed_target(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    keys = [add_field(harness, n) for n in ("Segment", "Tier", "Source", "Score", "Region code")]
    org = org_with_address(harness)
    harness.create_person(
        name="Ada Lovelace",
        email="ada@example.com",
        phones=[{"value": "+49 228 1234", "primary": True}],
        org_id=org["id"],
        custom_fields={keys[0]: "Gold", keys[4]: "R-7"},
    )
    page.goto(f"{harness.app_url}/oauth/install")
    page.get_by_role("button", name="Allow and install").click()
    expect(page).to_have_url(f"{harness.app_url}/settings")
    page.get_by_label("Maileon API key").fill(MAILEON_KEY)
    page.get_by_label("DOI process").uncheck()

    map_slot(page, 1, "Phone", "custom", "Phone number")
    map_slot(page, 2, "Organization city", "standard", "CITY")
    map_slot(page, 3, "Segment")
    map_slot(page, 4, "Tier")
    map_slot(page, 5, "Source")
    # a wrong standard field first: the message names it, nothing is saved
    map_slot(page, 1, "Phone", "standard", "PHONE")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Maileon has no standard field PHONE")).to_be_visible()
    map_slot(page, 1, "Phone", "custom", "Phone number")
    page.get_by_role("button", name="Add field").click()
    expect(page.get_by_label("Custom field 6", exact=True)).to_be_visible()
    map_slot(page, 6, "Region code")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible(timeout=15_000)
    expect(page.get_by_text('Writes Maileon custom field "Phone number"')).to_be_visible()
    expect(page.get_by_text("Writes Maileon standard field CITY")).to_be_visible()

    page.get_by_role("button", name="Start import").click()
    expect(page.locator('#import [data-state="done"]')).to_be_visible(timeout=30_000)
    ada = harness.contacts()["ada@example.com"]
    assert ada["custom_fields"]["Phone number"] == "+49 228 1234"
    assert ada["standard_fields"]["CITY"] == "Bonn"
    assert ada["custom_fields"]["Segment"] == "Gold"
    assert ada["custom_fields"]["Region code"] == "R-7"
    permission = ada["permission"]

    # the sixth slot now writes another Maileon field; the save offers the re-send
    page.locator("#target_kind_6").select_option("custom")
    page.get_by_label("Maileon field name, slot 6").fill("Sales region")
    page.get_by_role("button", name="Save").click()
    resend = page.get_by_role("button", name="Re-send mapped fields for all synced persons")
    expect(resend).to_be_visible(timeout=15_000)
    page.screenshot(path=str(artifacts / "field-mapping-resend-offer.png"), full_page=True)
    resend.click()
    expect(page.get_by_text("Re-sending the mapped fields")).to_be_visible()
    expect(page.locator('#import [data-state="done"]')).to_be_visible(timeout=30_000)
    ada = harness.contacts()["ada@example.com"]
    assert ada["custom_fields"]["Sales region"] == "R-7"
    assert ada["permission"] == permission
    stored = harness.rows("SELECT field_targets FROM settings WHERE company_id=?", (COMPANY,))
    assert "custom:Sales region" in stored[0][0]
