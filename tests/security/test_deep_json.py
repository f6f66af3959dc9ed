"""Issue #13, item 4: JSON nested too deeply is a clear 400 (never a 500 from RecursionError)
on every endpoint that reads JSON; API answers go through the same depth limit."""

from __future__ import annotations

import base64

import httpx
import pytest

from clients import safe_json
from tests.harness import COMPANY, Harness
from tests.integration.test_syncback import token_of
from tests.webhooks import credentials


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_the_depth_limit_holds_for_any_input() -> None:
    assert safe_json.loads(nested(64)) is not None
    for body in (nested(65), nested(5000), b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(safe_json.TooDeep):
            safe_json.loads(body)
    wide = b"[" + b",".join([b"[[1]]"] * 50_000) + b"]"  # many brackets, shallow
    assert len(safe_json.loads(wide)) == 50_000
    in_strings = '["' + "[{" * 500 + '", "\\\\", "\\"[[[", [[1]]]'  # brackets in strings
    assert safe_json.loads(in_strings)[-1] == [[1]]
    assert safe_json.loads(in_strings.encode()) == safe_json.loads(in_strings)


def test_deep_bodies_are_refused_with_400_everywhere(harness: Harness) -> None:
    harness.setup_company()
    harness.settle()
    basic = (
        "Basic "
        + base64.b64encode(
            f"{harness.config.client_id}:{harness.config.client_secret}".encode()
        ).decode()
    )
    maileon_url = (
        f"{harness.app_url}/webhooks/maileon/{COMPANY}/unsubscription?token={token_of(harness)}"
    )
    targets = [
        ("POST", f"{harness.app_url}/webhooks/pipedrive", {"Authorization": credentials(harness)}),
        ("POST", maileon_url, {}),
        ("DELETE", f"{harness.app_url}/oauth/callback", {"Authorization": basic}),
    ]
    for depth in (1000, 65):
        for method, url, headers in targets:
            r = httpx.request(
                method,
                url,
                content=nested(depth),
                headers={**headers, "Content-Type": "application/json"},
                timeout=20,
            )
            assert r.status_code == 400, (method, url, depth, r.status_code, r.text[:200])
    assert harness.rows("SELECT count(*) FROM companies WHERE id=?", (COMPANY,)) == [(1,)]
