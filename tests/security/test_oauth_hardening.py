"""Issue #13, items 3, 7 and 9 (api_domain): a callback without a valid state exchanges no code
and signs nobody in; unauthenticated requests cannot grow the database or make the app call
Pipedrive's token endpoint; the access token goes only to a Pipedrive domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appconfig import ConfigError, from_env
from tests.conftest import running_harness
from tests.harness import ADMIN, SALES, Harness


def token_calls(harness: Harness) -> int:
    return int(harness.pd("GET", "/_sim/state")["token_calls"])


def attacker_code(harness: Harness) -> str:
    """A valid code for the attacker's own installation, which the attacker never redeems."""
    attacker = harness.browser()
    authorize = attacker.get(f"{harness.app_url}/oauth/install").headers["location"]
    params = dict(httpx.URL(authorize).params)
    r = attacker.post(
        f"{harness.pd_url}/oauth/authorize",
        data={**params, "user_id": str(SALES), "action": "allow"},
    )
    return str(httpx.URL(r.headers["location"]).params["code"])


def test_login_csrf_a_planted_callback_signs_the_victim_into_nothing(harness: Harness) -> None:
    code = attacker_code(harness)
    victim = harness.browser()
    before = token_calls(harness)
    r = victim.get(f"{harness.app_url}/oauth/callback", params={"code": code})
    assert r.status_code == 303 and r.headers["location"] == "/oauth/install"
    assert "pm_session" not in victim.cookies
    r = victim.get(
        f"{harness.app_url}/oauth/callback", params={"code": code, "state": "forged.state"}
    )
    assert r.status_code == 400 and "pm_session" not in victim.cookies
    assert token_calls(harness) == before  # the code was never exchanged
    assert harness.rows("SELECT count(*) FROM installations") == [(0,)]
    assert victim.get(f"{harness.app_url}/settings").status_code == 303  # not signed in


def test_unauthenticated_requests_write_nothing_and_call_no_token_endpoint(
    harness: Harness,
) -> None:
    before = token_calls(harness)
    with httpx.Client(timeout=20) as anonymous:
        for i in range(200):
            assert anonymous.get(f"{harness.app_url}/oauth/install").status_code == 302
            r = anonymous.get(f"{harness.app_url}/oauth/callback", params={"code": f"guess-{i}"})
            assert r.status_code == 303
    assert harness.rows("SELECT count(*) FROM oauth_states") == [(0,)]
    assert token_calls(harness) == before
    harness.install()  # a real install still works, and records its state as used once
    assert harness.rows("SELECT count(*) FROM oauth_states") == [(1,)]


@pytest.fixture
def production_domains(tmp_path: Path) -> Iterator[Harness]:
    """The simulated Pipedrive answers with a loopback api_domain; production accepts only
    Pipedrive's own domains."""
    with running_harness(tmp_path, api_domains=("https://*.pipedrive.com",)) as h:
        yield h


def test_the_access_token_goes_only_to_a_pipedrive_domain(production_domains: Harness) -> None:
    harness = production_domains
    client = harness.browser()
    authorize = client.get(f"{harness.app_url}/oauth/install").headers["location"]
    params = dict(httpx.URL(authorize).params)
    r = client.post(
        f"{harness.pd_url}/oauth/authorize",
        data={**params, "user_id": str(ADMIN), "action": "allow"},
    )
    done = client.get(r.headers["location"])
    assert done.status_code == 502 and "not a Pipedrive domain" in done.text
    assert "pm_session" not in client.cookies
    calls = [
        q for q in harness.pd("GET", "/_sim/state")["requests"] if q["path"].startswith("/api/")
    ]
    assert calls == []  # the token was never sent to the named address
    assert harness.rows("SELECT count(*) FROM installations") == [(0,)]


def test_the_allowed_api_domains_and_framing_hosts_come_from_the_environment() -> None:
    base = {
        "PIPEDRIVE_CLIENT_ID": "id",
        "PIPEDRIVE_CLIENT_SECRET": "secret",
        "APP_URL": "https://app.example.com",
        "SECRET_KEY": "s" * 40,
        "ENCRYPTION_KEY": "ab" * 32,
    }
    config = from_env(base)
    assert config.api_domain_allowed("https://acme.pipedrive.com")
    for hostile in (
        "https://evil.example",
        "https://acme.pipedrive.com.evil.example",
        "https://user@evil.example",
        "http://acme.pipedrive.com",
        "https://acme.pipedrive.com/api",
        "https://pipedrive.com",
    ):
        assert not config.api_domain_allowed(hostile), hostile
    assert config.frame_ancestors == "https://*.pipedrive.com"
    sandbox = from_env(
        {
            **base,
            "PIPEDRIVE_API_DOMAINS": "http://127.0.0.1:8001",
            "FRAME_ANCESTORS": "http://127.0.0.1:8001,https://*.pipedrive.com",
        }
    )
    assert sandbox.api_domain_allowed("http://127.0.0.1:8001")
    assert not sandbox.api_domain_allowed("https://acme.pipedrive.com")
    assert sandbox.frame_ancestors == "http://127.0.0.1:8001 https://*.pipedrive.com"
    with pytest.raises(ConfigError, match="PIPEDRIVE_API_DOMAINS"):
        from_env({**base, "PIPEDRIVE_API_DOMAINS": "evil.example/path"})
