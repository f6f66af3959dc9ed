"""kill -9 the app at random points during a burst of thousands of webhooks, restart it:
every acknowledged change is applied, nothing is duplicated."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.faults.app_process import AppProcess
from tests.harness import Harness
from tests.webhooks import credentials, person_v2

PERSONS, CHANGES = 200, 10


def send_until_acknowledged(app: AppProcess, payload: dict, auth: str,  # type: ignore[type-arg]
                            client: httpx.Client) -> None:
    """Like Pipedrive: a delivery that fails is tried again until it gets a 2xx."""
    while True:
        try:
            r = client.post(f"{app.url}/webhooks/pipedrive", json=payload,
                            headers={"Authorization": auth}, timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def test_kill_9_during_a_burst_loses_and_duplicates_nothing(
        process_harness: tuple[Harness, AppProcess]) -> None:
    harness, app = process_harness
    harness.setup_company()
    auth = credentials(harness)
    events = [person_v2(5000 + p, "create" if c == 0 else "change",
                        name=f"Crash{p} Version{c}", email=f"crash{p}@example.com",
                        seconds=c) for p in range(PERSONS) for c in range(CHANGES)]
    deliveries = events + random.Random(3).sample(events, 300)  # some duplicates
    random.Random(11).shuffle(deliveries)

    done = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        rng = random.Random(5)
        while not done.wait(rng.uniform(0.4, 1.2)):
            app.kill()
            kills += 1
            app.start()

    chaos = threading.Thread(target=killer)
    chaos.start()
    try:
        with httpx.Client() as client, ThreadPoolExecutor(4) as senders:
            while True:  # a fast intake may take in the burst before 3 kills: deliver it again
                list(senders.map(lambda d: send_until_acknowledged(app, d, auth, client),
                                 deliveries))  # (as Pipedrive's redeliveries: all duplicates)
                if kills >= 3:
                    break
    finally:
        done.set()
        chaos.join()
    assert kills >= 3
    assert '"unhandled error' not in app.logs()  # no request failed inside the app
    harness.settle(timeout=120)

    contacts = {e: c for e, c in harness.contacts().items() if e.startswith("crash")}
    assert len(contacts) == PERSONS
    assert len({c["external_id"] for c in contacts.values()}) == PERSONS
    for p in range(PERSONS):
        assert contacts[f"crash{p}@example.com"]["standard_fields"]["FULLNAME"] == \
            f"Crash{p} Version{CHANGES - 1}"
    conn = sqlite3.connect(app.env["DATABASE_PATH"])
    stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    failed = conn.execute("SELECT count(*) FROM jobs WHERE state='failed'").fetchone()[0]
    conn.close()
    assert stored == len(events)  # every distinct event once, duplicates dropped
    assert failed == 0
