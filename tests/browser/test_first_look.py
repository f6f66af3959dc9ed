"""What a new admin sees first, page by page: no unstyled or dead-end pages, no 404s."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from tests.harness import Harness

pytestmark = pytest.mark.browser


def test_every_first_page_is_styled_leads_on_and_has_an_icon(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    missing: list[str] = []

    def note(response: Response) -> None:
        if response.status == 404:
            missing.append(response.url)

    page.on("response", note)

    page.goto(f"{harness.app_url}/")
    expect(page.get_by_role("heading", name="Maileon for Pipedrive")).to_be_visible()
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "monospace" not in font
    expect(page.get_by_role("link", name="Install in Pipedrive")).to_have_attribute(
        "href", "/oauth/install"
    )
    expect(page.get_by_role("link", name="Open the settings")).to_have_attribute(
        "href", "/settings"
    )
    page.screenshot(path=str(artifacts / "first-look-root.png"), full_page=True)

    page.goto(f"{harness.app_url}/oauth/callback")  # opened bare, without a code
    expect(page.get_by_role("heading", name="Installation failed")).to_be_visible()
    page.get_by_role("link", name="Start again").click()
    expect(page.get_by_role("button", name="Allow and install")).to_be_visible()
    page.screenshot(path=str(artifacts / "first-look-consent.png"), full_page=True)

    page.goto(f"{harness.pd_url}/")
    page.screenshot(path=str(artifacts / "first-look-pipedrive-sim.png"), full_page=True)
    page.goto(f"{harness.ml_url}/")
    page.screenshot(path=str(artifacts / "first-look-maileon-sim.png"), full_page=True)

    for base in (harness.app_url, harness.pd_url, harness.ml_url):
        icon = page.request.get(f"{base}/favicon.ico")
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg")
    assert missing == [], missing
