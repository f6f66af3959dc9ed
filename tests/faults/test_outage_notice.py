"""The outage notice: shown as soon as calls to Maileon fail, counting every change that waits.

Maileon stops answering (its answers would come after the client's timeout, 20 s in production,
5 s here): the first calls fail only then, while far more changes wait than were in those calls."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_harness
from tests.harness import Harness
from tests.waiting import wait_until

PERSONS = 250  # more than one company may hold leased at once (sync/engine/slots.py)


def notice(harness: Harness, client: httpx.Client) -> str:
    card = html.unescape(client.get(f"{harness.app_url}/settings/health").text)
    found = re.search(r'<div class="notice warn outage".*?</div>', card, re.S)
    return found.group(0) if found else ""


@pytest.mark.slow
def test_the_outage_notice_appears_at_once_with_the_true_count_of_waiting_changes(
    tmp_path: Path,
) -> None:
    # retries as in production; calls time out sooner
    with running_harness(tmp_path, backoff_scale=1.0, http_timeout=5.0) as harness:
        outage_notice(harness)


def outage_notice(harness: Harness) -> None:
    client = harness.setup_company()
    harness.settle(timeout=30)
    harness.ml("POST", "/_sim/latency", json={"ms": 60_000})
    for i in range(PERSONS):
        harness.create_person(name=f"Wait Ing{i}", email=f"waiting{i}@example.com")
    harness.pd("POST", "/_sim/idle?timeout=10")  # every webhook delivered
    wait_until(lambda: harness.rows("SELECT 1 FROM outages"), timeout=40)  # a call timed out
    failed_at = time.monotonic()
    wait_until(lambda: notice(harness, client), timeout=10)
    assert time.monotonic() - failed_at < 2.0
    assert harness.queue_depth() == PERSONS
    assert f"{PERSONS} changes wait" in notice(harness, client)
    harness.ml("POST", "/_sim/latency", json={"ms": 0})
