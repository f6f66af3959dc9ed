"""Issue #23, item 6: pages never name the host a client claims (URLs come from the app's own
routes, relative, or APP_URL), forwarded headers count only from the configured proxies, and
no HTML page is kept in a cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appconfig import ConfigError, from_env
from tests.conftest import running_harness
from tests.harness import Harness
from web import oauth_throttle

SPOOFED = {
    "Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-For": "203.0.113.9",
}


def test_pages_never_name_the_host_the_client_claims(harness: Harness) -> None:
    client = harness.install()
    for path in ("/", "/settings", "/oauth/callback?error=access_denied"):
        r = client.get(f"{harness.app_url}{path}", headers=SPOOFED)
        assert r.status_code == 200, (path, r.text)
        assert "evil.example" not in r.text, path
        assert 'href="/static/app.css"' in r.text


def test_html_pages_are_never_cached(harness: Harness) -> None:
    client = harness.install()
    for path in ("/", "/settings", "/settings/health"):
        r = client.get(f"{harness.app_url}{path}")
        assert r.headers["content-type"].startswith("text/html"), path
        assert r.headers["cache-control"] == "no-store", path
    css = client.get(f"{harness.app_url}/static/app.css")
    assert "no-store" not in css.headers.get("cache-control", "")  # assets may be cached


def test_trusted_proxies_is_a_checked_setting() -> None:
    base = {
        "PIPEDRIVE_CLIENT_ID": "id",
        "PIPEDRIVE_CLIENT_SECRET": "secret",
        "APP_URL": "https://maileon-sync.example.com",
        "SECRET_KEY": "k" * 40,
        "ENCRYPTION_KEY": "ab" * 32,
    }
    assert from_env(base).trusted_proxies == "127.0.0.1"
    assert from_env({**base, "TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"}).trusted_proxies == (
        "10.0.0.0/8,192.0.2.7"
    )
    assert from_env({**base, "TRUSTED_PROXIES": "*"}).trusted_proxies == "*"
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        from_env({**base, "TRUSTED_PROXIES": "my-proxy.example"})


@pytest.fixture
def untrusted_loopback(tmp_path: Path) -> Iterator[Harness]:
    """The app believes forwarded headers only from 192.0.2.7; the tests talk from loopback."""
    with running_harness(tmp_path, trusted_proxies="192.0.2.7") as h:
        yield h


def test_forwarded_headers_count_only_from_the_configured_proxies(
    untrusted_loopback: Harness,
) -> None:
    """A client that claims a new address in each request (X-Forwarded-For) is still one
    client: its code exchanges stop at the per-client bound (see test_token_endpoint)."""
    harness = untrusted_loopback
    before = int(harness.pd("GET", "/_sim/state")["token_calls"])
    for i in range(oauth_throttle.FREE_FAILURES + 10):
        with httpx.Client(timeout=20, headers={"X-Forwarded-For": f"198.51.100.{i}"}) as c:
            state = httpx.URL(c.get(f"{harness.app_url}/oauth/install").headers["location"])
            c.get(
                f"{harness.app_url}/oauth/callback",
                params={"code": "bogus", "state": state.params["state"]},
            )
    calls = int(harness.pd("GET", "/_sim/state")["token_calls"]) - before
    assert calls == oauth_throttle.FREE_FAILURES + 1


@pytest.fixture
def behind_a_router(tmp_path: Path) -> Iterator[Harness]:
    """TRUSTED_PROXIES=* (a platform router whose addresses vary, as on Heroku)."""
    with running_harness(tmp_path, trusted_proxies="*") as h:
        yield h


def test_behind_any_router_only_the_address_it_appended_counts(behind_a_router: Harness) -> None:
    """The router appends the address it saw; what the client put before it is a claim."""
    harness = behind_a_router
    before = int(harness.pd("GET", "/_sim/state")["token_calls"])
    for i in range(oauth_throttle.FREE_FAILURES + 10):
        claimed = {"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.50"}
        with httpx.Client(timeout=20, headers=claimed) as c:
            state = httpx.URL(c.get(f"{harness.app_url}/oauth/install").headers["location"])
            c.get(
                f"{harness.app_url}/oauth/callback",
                params={"code": "bogus", "state": state.params["state"]},
            )
    calls = int(harness.pd("GET", "/_sim/state")["token_calls"]) - before
    assert calls == oauth_throttle.FREE_FAILURES + 1
