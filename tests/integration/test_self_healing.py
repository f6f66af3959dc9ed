"""Self-healing (F13): deleted webhooks come back, changes lost while a webhook was banned are
recovered by the sweep, and periodic work survives a restart without running twice."""

from __future__ import annotations

import time

from sandbox.server import ServerThread
from tests.harness import COMPANY, Harness
from tests.waiting import wait_until
from web.app import create_app


def _hooks(harness: Harness) -> list[dict]:  # type: ignore[type-arg]
    return [w for w in harness.pd("GET", "/_sim/state")["webhooks"] if w["company_id"] == COMPANY]


def test_a_webhook_deleted_by_pipedrive_is_recreated(fast_periodic_harness: Harness) -> None:
    harness = fast_periodic_harness
    harness.setup_company()
    victim = next(w for w in _hooks(harness) if w["event_action"] == "create")
    harness.pd("POST", f"/_sim/webhooks/{victim['id']}/delete")
    wait_until(lambda: len(_hooks(harness)) == 3)
    assert ("person", "create") in {(w["event_object"], w["event_action"]) for w in _hooks(harness)}
    harness.create_person(name="After Heal", email="heal@example.com")
    wait_until(lambda: "heal@example.com" in harness.contacts())


def test_a_change_lost_during_a_ban_is_recovered_by_the_sweep(
    fast_periodic_harness: Harness,
) -> None:
    harness = fast_periodic_harness
    harness.setup_company()
    person = harness.create_person(name="Bea Before", email="bea@example.com")
    wait_until(lambda: "bea@example.com" in harness.contacts())
    for hook in _hooks(harness):
        harness.pd("POST", f"/_sim/webhooks/{hook['id']}/ban")
    banned_in = int(time.time())
    # the change lands in a later second than the sweep's watermark and Bea's last update
    wait_until(lambda: int(time.time()) > banned_in, timeout=5, interval=0.01)
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"name": "Bea After"})
    lost = [d for d in harness.pd("GET", "/_sim/state")["deliveries"] if d.get("lost")]
    assert lost, "the simulator should have lost the change while banned"
    wait_until(
        lambda: harness.contacts()["bea@example.com"]["standard_fields"]["FULLNAME"] == "Bea After",
        timeout=20,
    )


def test_periodic_jobs_are_neither_lost_nor_doubled_by_restarts(harness: Harness) -> None:
    harness.setup_company()
    port = int(harness.app_url.rsplit(":", 1)[1])
    for _ in range(2):
        harness.app_server.stop()
        harness.app_server = ServerThread(create_app(harness.config), port=port).start()
    rows = harness.rows(
        "SELECT kind, count(*) FROM jobs WHERE kind LIKE 'periodic.%' AND "
        "state IN ('pending','running') GROUP BY kind"
    )
    assert sorted(rows) == [
        ("periodic.engagement", 1),
        ("periodic.prune", 1),
        ("periodic.reconcile", 1),
        ("periodic.sweep", 1),
        ("periodic.tokens", 1),
        ("periodic.webhooks", 1),
    ]
