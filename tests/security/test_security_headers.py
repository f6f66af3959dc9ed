"""Issue #13, item 5: HTML pages say who may frame them (only Pipedrive for the settings and
the panel, nobody elsewhere); every response carries nosniff and a Referrer-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_harness
from tests.harness import Harness
from tests.integration.test_panel import make_token, open_panel
from tests.webhooks import credentials, person_v2


@pytest.fixture
def pipedrive_framed(tmp_path: Path) -> Iterator[Harness]:
    """The production default: Pipedrive's domains frame the settings and the panel."""
    with running_harness(tmp_path, frame_ancestors="https://*.pipedrive.com") as h:
        yield h


def test_settings_and_panel_may_be_framed_by_pipedrive_only(pipedrive_framed: Harness) -> None:
    harness = pipedrive_framed
    client = harness.setup_company()
    person = harness.create_person(name="Grace Hopper", email="grace@example.com")
    token = make_token(harness)
    pages = {
        "settings": client.get(f"{harness.app_url}/settings"),
        "embedded settings": httpx.get(f"{harness.app_url}/settings?token={token}", timeout=20),
        "panel": open_panel(harness, person["id"], token),
    }
    for name, r in pages.items():
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), name
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors https://*.pipedrive.com;" in csp, name
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]


def test_other_pages_may_be_framed_by_nobody(harness: Harness) -> None:
    r = httpx.get(f"{harness.app_url}/oauth/callback?error=user_denied", timeout=20)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    for url in (f"{harness.app_url}/healthz", f"{harness.app_url}/"):
        r = httpx.get(url, timeout=20)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]


def test_the_sandbox_names_its_own_framing_host(harness: Harness) -> None:
    client = harness.install()
    r = client.get(f"{harness.app_url}/settings")
    assert "frame-ancestors http://127.0.0.1:*;" in r.headers["content-security-policy"]


def test_webhook_answers_carry_what_every_route_gives(harness: Harness) -> None:
    """A POST to the Pipedrive receiver goes past the router (web/shortcut.py): stored or
    refused, its answer has the request id and security headers of every route, a refusal
    the app's JSON problem with its WWW-Authenticate, and a body over the limit sent without
    a length still ends in a 413."""
    harness.setup_company()
    url = f"{harness.app_url}/webhooks/pipedrive"
    body = person_v2(77, "create", name="Ada", email="ada@example.com")
    stored = httpx.post(url, json=body, headers={"Authorization": credentials(harness)})
    refused = httpx.post(url, json=body, headers={"Authorization": "Basic bm9ib2R5Og=="})
    for r in (stored, refused):
        assert len(r.headers["x-request-id"]) == 16
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]
    assert stored.json() == {"ok": True, "duplicate": False}
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Basic realm="webhooks"'
    assert refused.json() == {"ok": False, "error": "unauthorized"}

    def chunks() -> Iterator[bytes]:
        yield b'{"meta": "'
        for _ in range(11):
            yield b" " * 100_000

    too_large = httpx.post(
        url, content=chunks(), headers={"Authorization": credentials(harness)}, timeout=20
    )
    assert too_large.status_code == 413
    assert harness.rows("SELECT count(*) FROM events WHERE source='pipedrive'") == [(1,)]
