"""Issue #23, item 2: nobody can make the app call Pipedrive's token endpoint at will. Each
`/oauth/install` mints a valid state, so a callback with a made-up code reaches the exchange:
the exchanges are bounded per client and overall, a client whose exchanges fail waits, and a
real install still goes through."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from appconfig import ConfigError, from_env
from tests.conftest import running_harness
from tests.harness import Harness
from tests.unit.test_crypto_and_config import VALID
from web import oauth_throttle


def token_calls(harness: Harness) -> int:
    return int(harness.pd("GET", "/_sim/state")["token_calls"])


def bogus_exchange(harness: Harness, client_address: str | None = None) -> httpx.Response:
    """A fresh state, then the callback with a code Pipedrive never issued. The tests talk
    through loopback, which the app trusts as its proxy (TRUSTED_PROXIES' default), so
    X-Forwarded-For names the client."""
    headers = {"X-Forwarded-For": client_address} if client_address else {}
    with httpx.Client(timeout=20, headers=headers) as attacker:
        authorize = attacker.get(f"{harness.app_url}/oauth/install").headers["location"]
        state = httpx.URL(authorize).params["state"]
        return attacker.get(
            f"{harness.app_url}/oauth/callback", params={"code": "bogus", "state": state}
        )


def test_one_client_cannot_hammer_the_token_endpoint(harness: Harness) -> None:
    before = token_calls(harness)
    answers = [bogus_exchange(harness, "198.51.100.7").status_code for _ in range(60)]
    calls = token_calls(harness) - before
    # failures back off before the per-client budget is even spent
    assert 1 <= calls <= oauth_throttle.FREE_FAILURES + 1, calls
    assert answers.count(429) >= 60 - calls
    refused = bogus_exchange(harness, "198.51.100.7")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many installation attempts" in refused.text
    assert token_calls(harness) - before == calls

    # a real install from another client still goes through
    client = httpx.Client(timeout=20, headers={"X-Forwarded-For": "192.0.2.44"})
    harness.install(client=client)
    assert client.get(f"{harness.app_url}/settings").status_code == 200


def test_many_clients_together_are_bounded_overall(harness: Harness) -> None:
    before = token_calls(harness)
    for i in range(oauth_throttle.OVERALL + 20):
        bogus_exchange(harness, f"203.0.113.{i + 1}")
    assert token_calls(harness) - before == oauth_throttle.OVERALL


def test_an_operator_sets_the_bounds_and_the_defaults_stay(tmp_path: Path) -> None:
    """OAUTH_EXCHANGES_PER_CLIENT/_PER_MINUTE (a planned mass install, the many-companies
    bench) set the bounds the app enforces; unset, they are the throttle's own."""
    defaults = from_env(VALID)
    assert defaults.oauth_exchanges_per_client == oauth_throttle.PER_CLIENT == 10
    assert defaults.oauth_exchanges_per_minute == oauth_throttle.OVERALL == 30
    raised = from_env(
        {**VALID, "OAUTH_EXCHANGES_PER_CLIENT": "100", "OAUTH_EXCHANGES_PER_MINUTE": "5"}
    )
    assert (raised.oauth_exchanges_per_client, raised.oauth_exchanges_per_minute) == (100, 5)
    with pytest.raises(ConfigError, match="OAUTH_EXCHANGES_PER_MINUTE must be a number"):
        from_env({**VALID, "OAUTH_EXCHANGES_PER_MINUTE": "lots"})

    with running_harness(tmp_path, oauth_exchanges_per_client=40) as harness:
        before = token_calls(harness)
        # one address, more than the default 10 per client (failures spread over addresses
        # would back off first: real installs from one address are what a mass install does)
        for _ in range(12):
            harness.install()
        assert token_calls(harness) - before == 12
