"""SIGTERM, as a platform stops the app on a deploy or restart: the process stops leasing, lets
running jobs finish (or hands their leases back), exits with 0 inside the ~30 s a platform
allows, and the restarted process applies the rest: nothing lost, nothing duplicated."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.faults.app_process import AppProcess
from tests.harness import COMPANY, Harness
from tests.waiting import wait_until
from tests.webhooks import credentials, deliver, person_v2

EXIT_WITHIN = 25.0
DEALS = 30


def maileon_state(harness: Harness) -> dict[str, Any]:
    return harness.ml("GET", "/_sim/state")  # type: ignore[no-any-return]


def set_maileon_latency(harness: Harness, ms: float) -> None:
    harness.ml("POST", "/_sim/latency", json={"ms": ms})


def failed_jobs(harness: Harness) -> int:
    return int(harness.rows("SELECT count(*) FROM jobs WHERE state='failed'")[0][0])


@pytest.mark.slow
def test_sigterm_during_a_drain_finishes_running_jobs_and_the_restart_applies_the_rest(
    process_harness: tuple[Harness, AppProcess],
) -> None:
    harness, app = process_harness
    harness.setup_company(deals_sync=True)
    # The first deal creates the transaction type (jobs waiting for that company lock give
    # their slots back, so they have started and would all finish inside the grace).
    warm = harness.create_person(name="Warm Person", email="warm@example.com")
    deals = [
        harness.pd(
            "POST",
            "/_sim/deals",
            json={"company_id": COMPANY, "title": "Warm", "value": 1, "person_id": warm["id"]},
        )
    ]
    wait_until(lambda: maileon_state(harness)["transactions"], timeout=60)
    # Each Maileon call takes 1.5 s: the drain lasts half a minute, and a running job (a few
    # calls) still finishes well inside the worker's grace.
    set_maileon_latency(harness, 1500)
    for n in range(DEALS):
        person = harness.create_person(name=f"Stop{n} Person", email=f"stop{n}@example.com")
        deals.append(
            harness.pd(
                "POST",
                "/_sim/deals",
                json={
                    "company_id": COMPANY,
                    "title": f"Deal {n}",
                    "value": n,
                    "person_id": person["id"],
                },
            )
        )
    harness.pd("POST", "/_sim/idle?timeout=20")  # every webhook delivered and acknowledged
    wait_until(lambda: len(maileon_state(harness)["transactions"]) > 1, timeout=60)  # mid-drain

    code, seconds = app.sigterm(EXIT_WITHIN)
    assert code == 0 and seconds < EXIT_WITHIN
    assert "stopping: waiting" in app.logs()
    assert "unfinished" not in app.logs()  # the running jobs finished before the exit
    applied_before_restart = len(maileon_state(harness)["transactions"])
    assert applied_before_restart < len(deals)  # the stop really left work for the restart

    set_maileon_latency(harness, 0)
    app.start()
    harness.settle(timeout=60)
    added = Counter(
        t["content"]["deal_id"]
        for t in maileon_state(harness)["transactions"]
        if t["type_name"] == "pipedrive_deal_added"
    )
    assert added == {d["id"]: 1 for d in deals}  # every deal once: none lost, none twice
    contacts = {e: c for e, c in harness.contacts().items() if e.startswith("stop")}
    assert len(contacts) == DEALS
    assert failed_jobs(harness) == 0
    assert '"unhandled error' not in app.logs()


@pytest.mark.slow
def test_sigterm_with_jobs_stuck_on_a_slow_maileon_exits_in_time_and_hands_them_back(
    process_harness: tuple[Harness, AppProcess],
) -> None:
    harness, app = process_harness
    harness.setup_company()
    auth = credentials(harness)
    set_maileon_latency(harness, 20_000)  # longer than the worker's grace
    with httpx.Client() as client:
        for n in range(5):
            r = deliver(
                harness,
                person_v2(7000 + n, "create", name=f"Slow{n} Person", email=f"slow{n}@example.com"),
                auth,
                client,
            )
            assert r.status_code == 200
    wait_until(
        lambda: harness.rows("SELECT count(*) FROM jobs WHERE state='running'")[0][0] > 0,
        timeout=20,
    )

    code, seconds = app.sigterm(EXIT_WITHIN)
    assert code == 0 and seconds < EXIT_WITHIN
    assert "handed back" in app.logs()
    held = harness.rows(
        "SELECT count(*) FROM jobs WHERE state='running' AND locked_until > ?", (time.time(),)
    )[0][0]
    assert held == 0  # no lease left to wait out: the restart takes the jobs at once

    set_maileon_latency(harness, 0)
    app.start()
    harness.settle(timeout=60)
    contacts = {e: c for e, c in harness.contacts().items() if e.startswith("slow")}
    assert sorted(contacts) == [f"slow{n}@example.com" for n in range(5)]
    assert len({c["external_id"] for c in contacts.values()}) == 5
    assert failed_jobs(harness) == 0
