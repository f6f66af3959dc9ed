"""Pipedrive's burst limit is respected before it answers 429."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import running_harness


@pytest.mark.slow
def test_calls_pace_themselves_by_the_rate_limit_headers(tmp_path: Path) -> None:
    with running_harness(tmp_path, time_scale=1.0) as harness:
        harness.pd("POST", "/_sim/rate_limit", json={"per_2s": 5})
        harness.setup_company(deals_sync=True)  # about a dozen calls in a burst
        statuses = [
            r["status"]
            for r in harness.pd("GET", "/_sim/state")["requests"]
            if r["path"].startswith("/api/")
        ]
        assert len(statuses) > 10
        assert 429 not in statuses
