"""An admin starts "Import existing contacts" in Chromium: while the persons are read the bar is
indeterminate with a running count, then it fills as the batches are sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.harness import COMPANY, MAILEON_KEY, Harness
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def test_start_import_and_watch_progress_to_done(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.pd(
        "POST",
        "/_sim/bulk_persons",
        json={"company_id": COMPANY, "count": 1500, "fire_webhooks": False},
    )
    harness.pd("POST", "/_sim/latency", json={"ms": 300})  # each page read takes a moment…
    page.goto(f"{harness.app_url}/oauth/install")
    page.get_by_role("button", name="Allow and install").click()
    expect(page).to_have_url(f"{harness.app_url}/settings")
    page.get_by_label("Maileon API key").fill(MAILEON_KEY)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()

    card = page.locator("#import")
    expect(card.get_by_role("heading", name="Import existing contacts")).to_be_visible()
    # …and so does each batch sent: longer than the card's 1 s poll, so one is seen mid-way
    harness.ml("POST", "/_sim/latency", json={"ms": 1100})
    card.get_by_role("button", name="Start import").click()
    expect(card.get_by_role("button", name="Cancel import")).to_be_visible()

    bar = page.get_by_role("progressbar", name="Import progress")
    expect(
        card.get_by_text(re.compile(r"Reading persons from Pipedrive: \d+ so far"))
    ).to_be_visible()
    reading = card.inner_html()  # one snapshot: the bar has no value while reading
    assert (
        "Reading persons from Pipedrive" not in reading
        or re.search(r"<progress[^>]*\bvalue=", reading) is None
    ), reading
    seen: set[int] = set()

    def full() -> bool:
        value = bar.get_attribute("value")
        if value is not None and bar.get_attribute("max") == "1500":
            seen.add(int(value))
        return 1500 in seen

    wait_until(full, timeout=20, interval=0.1, what="the progress bar at 1500")
    assert any(0 < v < 1500 for v in seen), seen  # it moved through the middle…
    expect(card.get_by_text("Import finished.")).to_be_visible()  # …to done
    expect(bar).to_have_attribute("value", "1500")
    expect(card.get_by_text("1500 of 1500 persons processed (100%)")).to_be_visible()
    expect(card.get_by_role("button", name="Import again")).to_be_visible()
    page.screenshot(path=str(artifacts / "import-done.png"), full_page=True)
    assert len(harness.contacts()) == 1500
