"""Periodic work of many companies is spread over its interval, not run in one wave."""

from __future__ import annotations

from collections import Counter

from store.db import Store, now
from sync.engine.schedule import PERIODIC, ensure_periodic
from tests.unit.conftest import add_company

COMPANIES = 400


def test_a_thousand_installs_do_not_run_their_periodic_work_at_once(store: Store) -> None:
    for company_id in range(2, COMPANIES + 1):
        add_company(store, company_id, name=f"C{company_id}")
    started = now()
    ensure_periodic(store, 1.0)
    for kind, interval in PERIODIC.items():
        due = [
            r["run_after"] - started
            for r in store.all("SELECT run_after FROM jobs WHERE kind=?", (kind,))
        ]
        assert len(due) == COMPANIES
        assert max(due) <= interval + 1
        # ten equal parts of the interval: none holds more than twice its share
        parts = Counter(min(9, int(10 * d / interval)) for d in due)
        assert len(parts) == 10 and max(parts.values()) <= 2 * COMPANIES / 10, (kind, parts)
