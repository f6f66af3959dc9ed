"""The sync health card over HTTP: outages of either service in words while they last (a 429
wait or 5xx), gone once a waiting change goes through; open failures only in "Failures only"."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.harness import COMPANY, MAILEON_KEY, Harness
from tests.waiting import wait_until


def card(harness: Harness, client: httpx.Client, query: str = "") -> str:
    r = client.get(f"{harness.app_url}/settings/health{query}", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text)))


@pytest.mark.slow
def test_a_maileon_rate_limit_wait_shows_and_clears(harness: Harness) -> None:
    client = harness.setup_company()
    harness.ml(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/1.0/contacts", "status": 429, "count": 1, "retry_after": 3},
    )
    harness.create_person(name="Rita Rate", email="rita@example.com")
    wait_until(lambda: "Maileon is limiting requests" in card(harness, client))
    shown = card(harness, client)
    assert "1 change waits, next try in" in shown
    assert "Rita Rate → Maileon Waiting to retry" in shown
    harness.settle()
    shown = card(harness, client)
    assert "limiting requests" not in shown and "Waiting to retry" not in shown
    assert "Rita Rate → Maileon Done" in shown


def test_a_pipedrive_outage_shows_while_a_deal_waits_and_clears(harness: Harness) -> None:
    client = harness.setup_company(deals_sync=True)
    person = harness.create_person(name="Dora Deal", email="dora@example.com")
    harness.settle()
    harness.pd(
        "POST",
        "/_sim/faults",
        json={
            "path_prefix": f"/api/v2/persons/{person['id']}",
            "status": 503,
            "count": 10_000,
            "method": "GET",
        },
    )
    harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": "Big deal", "person_id": person["id"]},
    )

    def outage_shown() -> str:
        # the notice comes with the failed call, the deal's row with its stored outcome
        shown = card(harness, client)
        waiting = "Deal 'Big deal' → Maileon Waiting to retry" in shown
        return shown if waiting and "Pipedrive is not answering since" in shown else ""

    wait_until(outage_shown, what="the outage notice and the waiting deal")
    harness.pd("POST", "/_sim/reset_faults")  # Pipedrive recovers (only then: no race)
    harness.settle()
    shown = card(harness, client)
    assert "Pipedrive is not answering" not in shown
    assert "Deal 'Big deal' → Maileon Done pipedrive_deal_added sent" in shown


def test_failures_only_lists_open_failures_and_says_so_when_there_are_none(
    harness: Harness,
) -> None:
    client = harness.setup_company()
    assert "No failures." in card(harness, client, "?log=failed")
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Fay Fail", email="fay@example.com")
    harness.settle()
    assert "Fay Fail → Maileon Failed" in card(harness, client, "?log=failed")
    harness.ml(
        "POST",
        "/_sim/keys",
        json={"key": MAILEON_KEY, "account": "demo", "methods": ["GET", "POST", "PUT", "DELETE"]},
    )
    r = client.post(
        f"{harness.app_url}/settings/retry", data={}, headers={"Origin": harness.app_url}
    )
    assert r.status_code == 200
    harness.settle()
    assert "No failures." in card(harness, client, "?log=failed")
    shown = card(harness, client)
    assert "Fay Fail → Maileon Done" in shown
