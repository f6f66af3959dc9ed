"""The Newsletter panel (F11) in Chromium, embedded the way Pipedrive embeds it: a host page on
another origin puts /panel in an iframe and answers the App Extensions SDK's postMessage
protocol (tests/browser/panel_host.html)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest
from playwright.sync_api import Frame, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from sandbox.server import ServerThread
from tests.harness import ADMIN, COMPANY, Harness

pytestmark = pytest.mark.browser

HOST_PAGE = Path(__file__).with_name("panel_host.html")


@pytest.fixture
def host(harness: Harness) -> Iterator[str]:
    """The fake Pipedrive page; /token signs a fresh token as Pipedrive's GET_SIGNED_TOKEN."""
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(HOST_PAGE.read_text())

    async def token(request: Request) -> PlainTextResponse:
        return PlainTextResponse(harness.sign_token())

    server = ServerThread(Starlette(routes=[Route("/", page), Route("/token", token)])).start()
    try:
        yield server.url
    finally:
        server.stop()


def open_panel(page: Page, harness: Harness, host: str, person_id: int, token: str,
               theme: str = "light") -> Frame:
    panel = f"{harness.app_url}/panel?" + urlencode({
        "resource": "person", "view": "details", "selectedIds": person_id, "id": "panel-1",
        "theme": theme, "userId": ADMIN, "companyId": COMPANY, "token": token})
    page.goto(f"{host}/?" + urlencode({"panel": panel}))
    page.wait_for_function("window.host && host.initializedAt !== null", timeout=10_000)
    frame = page.frame(url=lambda url: "/panel?" in url)
    assert frame is not None
    return frame


def test_panel_initializes_at_once_follows_the_theme_and_its_buttons_work(
        page: Page, harness: Harness, host: str, artifacts: Path) -> None:
    harness.setup_company(initial_permission=2)
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    harness.settle()
    initial_token = harness.sign_token(ttl=6)  # expires before the buttons are used
    harness.ml("POST", "/_sim/latency", json={"ms": 3000})  # a slow Maileon

    frame = open_panel(page, harness, host, person["id"], initial_token)
    init_ms = page.evaluate("host.initializedAt - host.srcSetAt")
    assert init_ms < 3000, f"SDK initialized after {init_ms} ms (Pipedrive allows 10 s)"
    # initialized while the status still waits for Maileon
    expect(frame.locator("#pm-status")).to_have_attribute("data-state", "loading")
    assert page.evaluate("host.commands('initialize')[0].id") == "panel-1"

    expect(frame.locator("#pm-status p.status")).to_have_text("No permission", timeout=10_000)
    harness.ml("POST", "/_sim/reset_faults")
    expect(frame.get_by_text(f"Grace Hopper (#{person['id']}) · grace@example.com")
           ).to_be_visible()
    page.wait_for_function("host.commands('resize').length > 0")
    heights = page.evaluate("host.commands('resize').map(e => e.args.height)")
    assert all(100 <= h <= 750 for h in heights), heights
    content = frame.evaluate("document.body.scrollHeight")
    expect(page.locator("#panel")).to_have_attribute(
        "style", f"height: {max(100, min(750, content))}px;")

    # light, then dark when Pipedrive's user settings change
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    page.locator("#panel").screenshot(path=str(artifacts / "panel-light.png"))
    light_bg = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert page.evaluate("host.setTheme('dark')")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    assert frame.evaluate("getComputedStyle(document.body).backgroundColor") != light_bg
    page.locator("#panel").screenshot(path=str(artifacts / "panel-dark.png"))

    # the iframe's own token has expired: the buttons work with fresh signed tokens
    exp = jwt.decode(initial_token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - time.time() + 1.1))

    frame.get_by_role("button", name="Subscribe", exact=True).click()
    expect(frame.get_by_text("Subscribed with permission Single opt-in")).to_be_visible()
    confirmations = page.evaluate("host.commands('show_confirmation').map(e => e.args)")
    assert confirmations[-1]["title"] == f"Subscribe Grace Hopper (#{person['id']}) to the " \
                                         "newsletter?"
    assert "Single opt-in" in confirmations[-1]["description"]
    assert page.evaluate("host.commands('get_signed_token').length") >= 1
    expect(page.locator("#snackbar")).to_have_text(
        f"Grace Hopper (#{person['id']}): subscribed with permission 2")
    assert harness.contacts()["grace@example.com"]["permission"] == 2
    assert harness.newsletter_of(person["id"]) == "Subscribed"

    # cancelling the confirmation changes nothing
    page.evaluate("host.confirm = false")
    asked = len(confirmations)
    frame.get_by_role("button", name="Unsubscribe", exact=True).click()
    page.wait_for_function(f"host.commands('show_confirmation').length > {asked}")
    page.wait_for_timeout(300)
    expect(frame.get_by_text("Subscribed with permission Single opt-in")).to_be_visible()
    assert harness.contacts()["grace@example.com"]["permission"] == 2

    page.evaluate("host.confirm = true")
    frame.get_by_role("button", name="Unsubscribe", exact=True).click()
    expect(frame.locator("#pm-status p.status")).to_have_text("Unsubscribed")
    last = page.evaluate("host.commands('show_confirmation').slice(-1)[0].args")
    assert last["okColor"] == "negative" and last["okText"] == "Unsubscribe"
    expect(page.locator("#snackbar")).to_have_text(
        f"Grace Hopper (#{person['id']}): unsubscribed in Maileon")
    unsubscriptions = harness.ml("GET", "/_sim/state")["unsubscriptions"]
    assert [u["email"] for u in unsubscriptions] == ["grace@example.com"]
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    page.locator("#panel").screenshot(path=str(artifacts / "panel-dark-unsubscribed.png"))


def test_unconfigured_app_opens_the_settings_through_the_sdk(
        page: Page, harness: Harness, host: str) -> None:
    harness.install()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    frame = open_panel(page, harness, host, person["id"], harness.sign_token(), theme="dark")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    expect(frame.get_by_text("Maileon is not set up yet")).to_be_visible()
    frame.get_by_role("link", name="Open the settings").click()
    page.wait_for_function("host.commands('redirect_to').length > 0")
    assert page.evaluate("host.commands('redirect_to')[0].args") == {"view": "settings"}
    assert len(page.context.pages) == 1  # no new window: Pipedrive navigates
