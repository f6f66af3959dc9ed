"""Maileon applies a deal transaction but its answer comes late (after the client's timeout, or
after the app was stopped): the transaction is never sent twice, and one Maileon never took is
still sent."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import app_process_harness, running_harness
from tests.harness import COMPANY, Harness
from tests.waiting import wait_until

TRANSACTIONS = "/1.0/transactions"


def create_deal(harness: Harness, title: str) -> dict[str, Any]:
    person = harness.create_person(name=f"{title} Buyer", email=f"{title.lower()}@example.com")
    deal: dict[str, Any] = harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": title, "person_id": person["id"]},
    )
    return deal


def sent(harness: Harness) -> list[dict[str, Any]]:
    return harness.ml("GET", "/_sim/state")["transactions"]  # type: ignore[no-any-return]


def answer_late(harness: Harness, ms: float) -> None:
    """Maileon takes the next transaction at once and answers `ms` later."""
    harness.ml(
        "POST",
        "/_sim/faults",
        json={
            "path_prefix": TRANSACTIONS,
            "exact": True,
            "method": "POST",
            "late_ms": ms,
            "count": 1,
        },
    )


@pytest.mark.slow
def test_a_stop_while_maileon_answers_late_and_a_restart_duplicate_nothing(
    tmp_path: Path,
) -> None:
    with app_process_harness(tmp_path) as (harness, app):
        harness.setup_company(deals_sync=True)
        answer_late(harness, 20_000)  # longer than the stop's grace
        deal = create_deal(harness, "Latecomer")
        wait_until(lambda: sent(harness))  # Maileon holds it; its answer is still on the way

        code, _ = app.sigterm()
        assert code == 0
        assert "abandoned 1 job(s)" in app.logs() and f"deal {deal['id']}:create" in app.logs()

        app.start()
        harness.settle(timeout=30)
        assert [t["content"]["deal_id"] for t in sent(harness)] == [deal["id"]]
        log = html.unescape(harness.install().get(f"{app.url}/settings/health").text)
        assert "was in Maileon already" in log


def test_a_transaction_answered_after_the_timeout_is_not_sent_again(tmp_path: Path) -> None:
    with running_harness(tmp_path, transaction_timeout=1.0) as harness:
        client = harness.setup_company(deals_sync=True)
        answer_late(harness, 3_000)
        deal = create_deal(harness, "Slowpoke")
        harness.settle(timeout=30)
        assert [t["content"]["deal_id"] for t in sent(harness)] == [deal["id"]]
        log = html.unescape(client.get(f"{harness.app_url}/settings/health").text)
        assert "was in Maileon already" in log


def test_a_transaction_maileon_never_took_is_sent_once_the_lost_call_cannot_apply(
    tmp_path: Path,
) -> None:
    with running_harness(tmp_path, transaction_timeout=1.0) as harness:
        harness.setup_company(deals_sync=True)
        harness.ml(
            "POST",
            "/_sim/faults",
            json={
                "path_prefix": TRANSACTIONS,
                "exact": True,
                "method": "POST",
                "status": 503,
                "count": 1,
            },
        )
        began = time.monotonic()
        deal = create_deal(harness, "Refused")
        harness.settle(timeout=30)
        assert [t["content"]["deal_id"] for t in sent(harness)] == [deal["id"]]
        # looked up first, then sent only after 1.5 transaction timeouts
        assert time.monotonic() - began >= 1.5


def test_a_lost_answer_maileon_cannot_look_up_fails_as_uncertain_for_the_admin(
    tmp_path: Path,
) -> None:
    with running_harness(tmp_path, transaction_timeout=1.0) as harness:
        client = harness.setup_company(deals_sync=True)
        answer_late(harness, 3_000)
        create_deal(harness, "Unsure")
        wait_until(lambda: sent(harness))
        # the look-up by transaction id is refused
        harness.ml(
            "POST",
            "/_sim/faults",
            json={"path_prefix": f"{TRANSACTIONS}/", "method": "GET", "status": 400, "count": 5},
        )
        harness.settle(timeout=30)
        assert len(sent(harness)) == 1
        failed = html.unescape(client.get(f"{harness.app_url}/settings/health?log=failed").text)
        assert "uncertain whether Maileon holds the pipedrive_deal_added transaction" in failed
        assert "Retry sends it again" in failed


@pytest.mark.parametrize("late_ms", [300, 3_000], ids=["answered", "answer-lost"])
def test_a_transaction_sent_before_the_persons_contact_exists_is_in_maileon_once(
    tmp_path: Path, late_ms: float
) -> None:
    """The person's first write comes after the deal's transaction (issue 27): Maileon refuses
    that call ("contact not found"), its answer comes late or never (transaction timeout 1 s),
    the person's job creates the contact meanwhile. The transaction is sent again only as
    the one Maileon holds: one in Maileon, one applied change in the sync log."""
    with running_harness(tmp_path, transaction_timeout=1.0) as harness:
        client = harness.setup_company(deals_sync=True)
        harness.ml("POST", "/_sim/hold", json={"path": "/1.0/contacts", "method": "POST"})
        answer_late(harness, late_ms)
        deal = create_deal(harness, "Afterwards")
        wait_until(lambda: harness.ml("GET", "/_sim/hold")["held"] == 1)  # the person's write

        def calls(method: str, path: str) -> list[str]:
            requests = harness.ml("GET", "/_sim/state")["requests"]
            return [r["path"] for r in requests if r["method"] == method and path in r["path"]]

        def transaction_posts() -> int:
            return calls("POST", TRANSACTIONS).count(TRANSACTIONS)

        wait_until(transaction_posts)  # Maileon has the deal's call before the contact
        assert sent(harness) == [] and "afterwards@example.com" not in harness.contacts()
        harness.ml("POST", "/_sim/release")

        harness.settle(timeout=30)
        assert "afterwards@example.com" in harness.contacts()
        assert [t["content"]["deal_id"] for t in sent(harness)] == [deal["id"]]
        assert transaction_posts() == 2  # the refused one, then the one Maileon took
        # a lost answer is looked up before the call is sent again
        assert bool(calls("GET", "/transaction_id/")) == (late_ms > 1_000)
        log = html.unescape(client.get(f"{harness.app_url}/settings/health").text)
        assert log.count("pipedrive_deal_added sent to Maileon") == 1
        assert "uncertain" not in log
