"""Status first (issue #26, item 1): the first 900 px of the settings page, standalone and in
Pipedrive's settings iframe, say in one line whether sync works, what needs attention and what
to do, with the outage or revoked-key banner there; a small navigation leads to each section,
and each section has its own URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_sync_health import POLL_MS, sign_in
from tests.harness import ADMIN, COMPANY, MAILEON_KEY, Harness

pytestmark = pytest.mark.browser

FIRST_SCREEN = 900


def within_first_screen(page: Page, element: Locator) -> None:
    """The element is shown, and ends within the first 900 px of the page as loaded."""
    expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None
    scrolled = page.evaluate("window.scrollY")
    assert box["y"] + scrolled + box["height"] <= FIRST_SCREEN, box


@pytest.mark.slow
def test_an_outage_and_a_revoked_key_show_first_with_what_to_do(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": FIRST_SCREEN})
    harness.setup_company(deals_sync=True)
    ada = harness.create_person(name="Ada Lovelace", email="ada@example.com")
    harness.settle()
    sign_in(page, harness)
    line = page.locator("#status-line")
    expect(line).to_contain_text("Sync works.")
    within_first_screen(page, line)

    # Maileon goes down: the top of the page says so without a reload, and offers "Try now"
    harness.ml("POST", "/_sim/down", json={"down": True})
    harness.pd("PATCH", f"/_sim/persons/{ada['id']}", json={"name": "Ada King"})
    expect(line).to_contain_text("Sync is waiting: Maileon does not answer", timeout=POLL_MS)
    expect(line).to_contain_text("Nothing is lost")
    outage = page.locator("#status .outage")
    expect(outage).to_contain_text("Maileon is not answering since")
    within_first_screen(page, outage)
    try_now = page.get_by_role("button", name="Try now")
    within_first_screen(page, try_now)
    page.screenshot(path=str(artifacts / "status-first-outage.png"))

    # Maileon answers again; "Try now" sends the waiting change at once
    harness.ml("POST", "/_sim/down", json={"down": False})
    try_now.click()
    expect(line).to_contain_text("Sync works.", timeout=POLL_MS)
    assert harness.contacts()["ada@example.com"]["standard_fields"]["FULLNAME"] == "Ada King"

    # the key is revoked in Maileon: the first screen says sync stopped and what to do
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Rita Revoked", email="rita@example.com")
    harness.settle()
    expect(line).to_contain_text("Sync is stopped: Maileon rejects the API key", timeout=POLL_MS)
    expect(line).to_contain_text("Paste a valid key under Settings")
    within_first_screen(page, line)
    page.screenshot(path=str(artifacts / "status-first-revoked-key.png"))
    line.get_by_role("link", name="Go to Settings").click()
    expect(page.get_by_label("Maileon API key")).to_be_in_viewport()


def test_the_sections_are_one_click_away_and_each_has_a_url(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": FIRST_SCREEN})
    harness.setup_company()
    sign_in(page, harness)
    nav = page.get_by_role("navigation", name="Sections of this page")
    for name, section, heading in [
        ("Log", "#log", "Log and sync health"),
        ("Import", "#import", "Import existing contacts"),
        ("Which persons", "#sync-rules", "Which persons go to Maileon"),
        ("Settings", "#settings", "Settings"),
    ]:
        nav.get_by_role("link", name=name).click()
        expect(page).to_have_url(f"{harness.app_url}/settings{section}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_in_viewport()
        expect(nav).to_be_in_viewport()  # the navigation stays at hand
    page.goto(f"{harness.app_url}/settings?section=import")
    expect(page.get_by_role("heading", name="Import existing contacts")).to_be_in_viewport()
    page.goto(f"{harness.app_url}/settings#log")
    expect(page.get_by_role("heading", name="Log and sync health")).to_be_in_viewport()
    page.screenshot(path=str(artifacts / "status-first-sections.png"))


def test_in_pipedrives_settings_iframe_the_revoked_key_shows_first(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": FIRST_SCREEN})
    harness.setup_company()
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Rita Revoked", email="rita@example.com")
    harness.settle()
    page.goto(f"{harness.pd_url}/ui/settings?company={COMPANY}&user={ADMIN}")
    page.wait_for_function("window.host && host.initializedAt !== null", timeout=10_000)
    frame = page.frame(url=lambda url: url.startswith(f"{harness.app_url}/settings?"))
    assert frame is not None
    line = frame.locator("#status-line")
    expect(line).to_contain_text("Sync is stopped: Maileon rejects the API key")
    box = line.bounding_box()  # in the page's coordinates: the iframe's offset included
    assert box is not None and box["y"] + box["height"] <= FIRST_SCREEN, box
    page.screenshot(path=str(artifacts / "status-first-in-pipedrive.png"))
