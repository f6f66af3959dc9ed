"""kill -9 the app at random points during a burst of thousands of webhooks, restart it:
every acknowledged change is applied, nothing is duplicated."""

from __future__ import annotations

import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.faults.app_process import AppProcess
from tests.harness import Harness
from tests.waiting import let_time_pass, wait_until
from tests.webhooks import burst, credentials

PERSONS, CHANGES = 200, 10


def send_until_acknowledged(
    app: AppProcess,
    payload: dict[str, Any],
    auth: str,
    client: httpx.Client,
) -> None:
    """Like Pipedrive: a delivery that fails is tried again until it gets a 2xx."""

    def delivered() -> bool:
        try:
            r = client.post(
                f"{app.url}/webhooks/pipedrive",
                json=payload,
                headers={"Authorization": auth},
                timeout=5,
            )
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    wait_until(delivered, timeout=120, interval=0.05, what="a delivery acknowledged")


@pytest.mark.slow
def test_kill_9_during_a_burst_loses_and_duplicates_nothing(
    process_harness: tuple[Harness, AppProcess],
) -> None:
    harness, app = process_harness
    harness.setup_company()
    auth = credentials(harness)
    events = burst(5000, PERSONS, CHANGES, name="Crash", email="crash")
    deliveries = events + random.Random(3).sample(events, 300)  # some duplicates
    random.Random(11).shuffle(deliveries)

    # Kill at three random points of the burst, counted in acknowledged deliveries, so the
    # kills always land while deliveries are still being sent, however fast the machine.
    rng = random.Random(5)
    kill_points = sorted(rng.sample(range(len(deliveries) // 10, len(deliveries) * 8 // 10), 3))
    acknowledged = 0
    counter = threading.Lock()
    killed_at: list[int] = []
    done = threading.Event()

    def send(delivery: dict) -> None:  # type: ignore[type-arg]
        nonlocal acknowledged
        send_until_acknowledged(app, delivery, auth, client)
        with counter:
            acknowledged += 1

    def killer() -> None:
        for point in kill_points:
            wait_until(lambda: acknowledged >= point or done.is_set(), 120, interval=0.005)  # noqa: B023
            if done.is_set():
                return
            app.kill()
            killed_at.append(acknowledged)
            let_time_pass(rng.uniform(0, 0.3))  # down for a moment: deliveries fail, retry
            app.start()

    chaos = threading.Thread(target=killer)
    chaos.start()
    try:
        with httpx.Client() as client, ThreadPoolExecutor(4) as senders:
            list(senders.map(send, deliveries))
    finally:
        done.set()
        chaos.join()
    assert len(killed_at) == 3 and all(n < len(deliveries) for n in killed_at), killed_at
    assert '"unhandled error' not in app.logs()  # no request failed inside the app
    harness.settle(timeout=120)

    contacts = {e: c for e, c in harness.contacts().items() if e.startswith("crash")}
    assert len(contacts) == PERSONS
    assert len({c["external_id"] for c in contacts.values()}) == PERSONS
    for p in range(PERSONS):
        assert (
            contacts[f"crash{p}@example.com"]["standard_fields"]["FULLNAME"]
            == f"Crash{p} Version{CHANGES - 1}"
        )
    conn = sqlite3.connect(app.env["DATABASE_PATH"])
    stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    failed = conn.execute("SELECT count(*) FROM jobs WHERE state='failed'").fetchone()[0]
    conn.close()
    assert stored == len(events)  # every distinct event once, duplicates dropped
    assert failed == 0
