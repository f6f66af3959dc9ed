"""The Newsletter panel (F11) in Chromium, on a person page of the simulated Pipedrive: the page
puts /panel in an iframe with a JWT it signs and answers the App Extensions SDK's postMessage
protocol, as Pipedrive does (sandbox/pipedrive/extensions.py, the same page the demo shows)."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Frame, Page, expect

from tests.harness import ADMIN, COMPANY, SALES, Harness
from tests.waiting import let_time_pass

pytestmark = pytest.mark.browser


def open_person(page: Page, harness: Harness, person_id: int, **params: str) -> Frame:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    page.goto(f"{harness.pd_url}/ui/persons/{person_id}/view?{query}")
    page.wait_for_function("window.host && host.initializedAt !== null", timeout=10_000)
    frame = page.frame(url=lambda url: "/panel?" in url)
    assert frame is not None
    return frame


def test_panel_on_a_person_page_initializes_follows_the_theme_and_offers_what_applies(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.setup_company(initial_permission=2)
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    harness.ml("POST", "/_sim/latency", json={"ms": 3000})  # a slow Maileon

    # the iframe's own token expires before the buttons are used
    frame = open_person(page, harness, person["id"], token_ttl="6")
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    init_ms = page.evaluate("host.initializedAt - host.srcSetAt")
    assert init_ms < 3000, f"SDK initialized after {init_ms} ms (Pipedrive allows 10 s)"
    # initialized while the status still waits for Maileon
    expect(frame.locator("#pm-status")).to_have_attribute("data-state", "loading")
    src = page.locator("#extension").get_attribute("src") or ""
    claims = jwt.decode(src.split("token=")[1].split("&")[0], options={"verify_signature": False})
    assert (claims["userId"], claims["companyId"]) == (ADMIN, COMPANY)

    expect(frame.locator("#pm-status p.status")).to_have_text("No permission", timeout=10_000)
    harness.ml("POST", "/_sim/reset_faults")
    expect(frame.get_by_text(f"Grace Hopper (#{person['id']}) · grace@example.com")).to_be_visible()
    # nothing to unsubscribe from: only Subscribe is offered
    expect(frame.get_by_role("button", name="Subscribe", exact=True)).to_be_visible()
    expect(frame.get_by_role("button", name="Unsubscribe", exact=True)).to_have_count(0)
    page.wait_for_function("host.commands('resize').length > 0")
    heights = page.evaluate("host.commands('resize').map(e => e.args.height)")
    assert all(100 <= h <= 750 for h in heights), heights
    content = frame.evaluate("document.body.scrollHeight")
    expect(page.locator("#extension")).to_have_attribute(
        "style", f"height: {max(100, min(750, content))}px;"
    )

    # light, then dark when Pipedrive's user settings change
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    page.screenshot(path=str(artifacts / "sandbox-person-panel-light.png"), full_page=True)
    light_bg = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_label("Theme").select_option("dark")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    assert frame.evaluate("getComputedStyle(document.body).backgroundColor") != light_bg
    page.screenshot(path=str(artifacts / "sandbox-person-panel-dark.png"), full_page=True)

    # the iframe's own token has expired: the buttons work with fresh signed tokens
    exp = claims["exp"]
    let_time_pass(max(0.0, exp - time.time() + 1.1))

    frame.get_by_role("button", name="Subscribe", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Subscribe Grace Hopper (#{person['id']}) to the newsletter?")
    expect(dialog).to_contain_text("Single opt-in")
    dialog.get_by_role("button", name="Subscribe").click()
    expect(frame.get_by_text("Subscribed with permission Single opt-in")).to_be_visible()
    assert page.evaluate("host.commands('get_signed_token').length") >= 1
    expect(page.locator("#snackbar")).to_have_text(
        f"Grace Hopper (#{person['id']}): subscribed with permission 2"
    )
    assert harness.contacts()["grace@example.com"]["permission"] == 2
    assert harness.newsletter_of(person["id"]) == "Subscribed"
    # subscribed already: only Unsubscribe is offered
    expect(frame.get_by_role("button", name="Subscribe", exact=True)).to_have_count(0)

    # cancelling the confirmation changes nothing
    frame.get_by_role("button", name="Unsubscribe", exact=True).click()
    expect(dialog).to_contain_text("Unsubscribe Grace Hopper")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(300)
    expect(frame.get_by_text("Subscribed with permission Single opt-in")).to_be_visible()
    assert harness.contacts()["grace@example.com"]["permission"] == 2

    frame.get_by_role("button", name="Unsubscribe", exact=True).click()
    last = page.evaluate("host.commands('show_confirmation').slice(-1)[0].args")
    assert last["okColor"] == "negative" and last["okText"] == "Unsubscribe"
    dialog.get_by_role("button", name="Unsubscribe").click()
    expect(frame.locator("#pm-status p.status")).to_have_text("Unsubscribed")
    expect(page.locator("#snackbar")).to_have_text(
        f"Grace Hopper (#{person['id']}): unsubscribed in Maileon"
    )
    unsubscriptions = harness.ml("GET", "/_sim/state")["unsubscriptions"]
    assert [u["email"] for u in unsubscriptions] == ["grace@example.com"]
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    expect(frame.get_by_role("button", name="Unsubscribe", exact=True)).to_have_count(0)
    expect(frame.get_by_role("button", name="Subscribe", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "sandbox-person-panel-unsubscribed.png"), full_page=True)


def test_unconfigured_panel_leads_to_the_settings_inside_pipedrive(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.install()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    frame = open_person(page, harness, person["id"], theme="dark")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    expect(frame.get_by_text("Maileon is not set up yet")).to_be_visible()
    frame.get_by_role("link", name="Open the settings").click()
    page.wait_for_url("**/ui/settings?**")
    assert len(page.context.pages) == 1  # no new window: Pipedrive navigates
    page.wait_for_function("window.host && host.initializedAt !== null", timeout=10_000)
    settings = page.frame(url=lambda url: url.startswith(f"{harness.app_url}/settings?"))
    assert settings is not None
    expect(settings.get_by_text("Acme Sales · signed in as Ada Admin")).to_be_visible()
    settings.get_by_label("Maileon API key").fill("demo-maileon-key-0001")
    settings.get_by_label("Contacts sync to Maileon").check()
    settings.get_by_role("button", name="Save").click()
    expect(settings.get_by_text("Settings saved")).to_be_visible()
    page.screenshot(path=str(artifacts / "sandbox-settings-custom-ui.png"), full_page=True)


def test_a_user_who_has_not_authorized_the_app_is_told_how(
    page: Page, harness: Harness, artifacts: Path
) -> None:
    harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    frame = open_person(page, harness, person["id"], user=str(SALES))
    expect(page.get_by_label("Signed in as")).to_have_value(str(SALES))
    expect(frame.get_by_text("Authorize the app first")).to_be_visible()
    expect(frame.get_by_role("link", name="Install the app")).to_be_visible()
    page.screenshot(path=str(artifacts / "sandbox-person-panel-not-authorized.png"), full_page=True)
