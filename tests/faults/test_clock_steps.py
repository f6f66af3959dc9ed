"""Wall-clock steps while the app runs (NTP, a resumed VM): a step forward does not make a live
job's lease look expired (it would run twice), a step back does not hold debounced changes
past their maximum wait. The test steps the clock the app reads (`time.time`); monotonic time
goes on as it does on a real machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import running_harness
from tests.faults.test_late_answers import TRANSACTIONS, answer_late, create_deal, sent
from tests.waiting import wait_until


def test_a_forward_clock_step_does_not_run_a_live_job_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_harness(tmp_path) as harness:
        harness.setup_company(deals_sync=True)
        answer_late(harness, 3_000)
        deal = create_deal(harness, "Stepper")
        wait_until(lambda: sent(harness))  # the deal's job is in its Maileon call
        wall = time.time
        monkeypatch.setattr(time, "time", lambda: wall() + 600)  # past the 120 s lease

        harness.settle(timeout=30)
        assert harness.rows("SELECT attempts FROM jobs WHERE kind='deal'") == [(1,)]
        requests = harness.ml("GET", "/_sim/state")["requests"]
        assert [r["method"] for r in requests if r["path"] == TRANSACTIONS] == ["POST"]
        assert [t["content"]["deal_id"] for t in sent(harness)] == [deal["id"]]


def test_a_backward_clock_step_does_not_hold_back_a_debounced_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_harness(tmp_path, debounce_seconds=1.0, debounce_max_seconds=2.0) as harness:
        harness.setup_company()
        harness.settle(timeout=30)
        harness.create_person(name="Back Step", email="back.step@example.com")
        wait_until(
            lambda: harness.rows("SELECT 1 FROM jobs WHERE kind='person' AND state='pending'")
        )
        wall = time.time
        monkeypatch.setattr(time, "time", lambda: wall() - 3600)
        began = time.monotonic()

        wait_until(lambda: "back.step@example.com" in harness.contacts(), timeout=15)
        assert time.monotonic() - began < 2.0 + 1.5  # the maximum wait, plus the sync itself
