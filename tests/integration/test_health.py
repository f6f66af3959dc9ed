"""GET /healthz reports the database, the worker and the queue depth."""

from __future__ import annotations

import httpx

from tests.harness import Harness


def test_healthz(harness: Harness) -> None:
    harness.setup_company()
    harness.ml("POST", "/_sim/down", json={"down": True})
    harness.create_person(name="Queued", email="queued@example.com")
    harness.pd("POST", "/_sim/idle?timeout=5")

    r = httpx.get(f"{harness.app_url}/healthz")
    assert r.status_code == 200
    data = r.json()
    assert data["database"] == "ok" and data["worker"]["alive"] is True
    assert data["queue_depth"] == 1
    harness.ml("POST", "/_sim/down", json={"down": False})
    harness.settle()
    assert httpx.get(f"{harness.app_url}/healthz").json()["queue_depth"] == 0
