"""Logs are structured (one JSON object a line, with a request id) and never hold a secret."""

from __future__ import annotations

import json

import httpx

from tests.faults.app_process import AppProcess
from tests.harness import MAILEON_KEY, Harness
from tests.waiting import wait_until
from tests.webhooks import credentials, person_v2


def test_logs_are_json_lines_without_secrets(process_harness: tuple[Harness, AppProcess]) -> None:
    harness, app = process_harness
    client = harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1")
    auth = credentials(harness)
    harness.create_person(name="Log Me", email="log@example.com")
    # Errors that get logged: a refused key check, failed Maileon calls, a crash-free 401.
    harness.save_settings(client, maileon_api_key="wrong-key-123456", contacts_sync=True)
    harness.ml("POST", "/_sim/down", json={"down": True})
    httpx.post(
        f"{app.url}/webhooks/pipedrive",
        headers={"Authorization": auth},
        json=person_v2(4242, "create", name="Down", email="down@example.com"),
    )
    httpx.post(f"{app.url}/webhooks/pipedrive", headers={"Authorization": "Basic eDp5"}, json={})
    harness.pd("POST", "/_sim/expire_tokens")
    wait_until(lambda: harness.maileon.faults.answered)  # a call met the outage
    harness.ml("POST", "/_sim/down", json={"down": False})
    harness.settle(timeout=60)
    httpx.request("DELETE", f"{app.url}/oauth/callback", json={"company_id": 1001, "user_id": 501})
    app.stop()

    state = harness.pd("GET", "/_sim/state")
    secrets = {
        MAILEON_KEY,
        harness.config.client_secret,
        app.env["ENCRYPTION_KEY"],
        app.env["SECRET_KEY"],
        auth[6:],
    }
    secrets |= {w["http_auth_password"] for w in state["webhooks"]}
    secrets |= {
        i["refresh_token"] for i in state.get("installations", []) if i.get("refresh_token")
    }
    entries = [json.loads(line) for line in app.logs().splitlines() if line.strip()]
    assert all({"time", "level", "message"} <= e.keys() for e in entries)
    requests = [e for e in entries if e.get("path") == "/webhooks/pipedrive"]
    assert requests and all(len(e["request_id"]) == 16 for e in requests)
    assert any(e["level"] == "info" and "will retry" in e["message"] for e in entries)
    text = app.logs()
    for secret in secrets:
        assert secret not in text
    assert "v1u:" not in text  # no Pipedrive access token
