"""What one lease costs per job as the number of tenants grows (issue 29, item 1).

In-process, on a fresh SQLite file per setting: `tenants` installed companies, each with its
periodic jobs scheduled for later and some finished history (idle tenants, as an operator's
are most of the time), and `backlogs` of them with 10,000 due person jobs between them. The
worker's lease is timed as it runs it: chunks of 100 (`Slots.ahead`), the per-company cap,
each leased chunk finished before the next lease. Printed: the lease's time per job leased
with 100 and 1,000 tenants against 1 tenant (one backlog), and with 1,000 tenants against 50
(50 backlogs). Target: independent of the number of tenants (ratio <= 1.3 on this noisy
machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row, machine, print_table
from store import queue, tenants
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store, now
from sync.engine.schedule import ensure_periodic

CHUNK = 100
PER_COMPANY = 208  # the worker's cap (sync/engine/context.py: 2 x batch + concurrency)
BACKLOG = 10_000
HISTORY = 20  # finished jobs kept per idle tenant


def _setting(path: Path, tenant_count: int, backlogs: int) -> Store:
    store = Store(str(path), SecretBox(parse_keys(new_key())))
    with store.tx() as db:
        for cid in range(1, tenant_count + 1):
            tenants.upsert_company(store, db, cid, f"C{cid}", f"c{cid}", "https://x.example")
    ensure_periodic(store, 1.0)
    t = now()
    with store.tx() as db:
        # idle: every periodic run later than this bench lasts
        db.execute("UPDATE jobs SET run_after=run_after+3600 WHERE kind LIKE 'periodic.%'")
        db.conn.executemany(
            "INSERT INTO jobs (company_id, kind, entity_id, payload, state, run_after,"
            " created_at, updated_at) VALUES (?, 'person', ?, '{}', 'done', ?, ?, ?)",
            [
                (cid, f"h{k}", t - 60, t - 60, t - 60)
                for cid in range(1, tenant_count + 1)
                for k in range(HISTORY)
            ],
        )
        for k in range(BACKLOG):
            cid = 1 + k % backlogs
            queue.upsert_job(db, cid, "person", str(k), {"action": "change"}, delay=-1.0)
    return store


def per_job_ms(tenant_count: int, backlogs: int, jobs: int) -> float:
    """Median lease CPU time per job leased, in ms, over the leases that take `jobs` jobs."""
    with tempfile.TemporaryDirectory(prefix="lease-cost-") as folder:
        store = _setting(Path(folder) / "app.db", tenant_count, backlogs)
        try:
            times: list[float] = []
            leased = 0
            while leased < jobs:
                started = time.process_time()  # CPU: the machine is shared
                chunk = queue.lease(store, CHUNK, 120.0, PER_COMPANY, chunk=CHUNK)
                times.append((time.process_time() - started) / max(1, len(chunk)))
                if not chunk:
                    raise RuntimeError("nothing due to lease")
                leased += len(chunk)
                for job in chunk:
                    queue.finish(store, job, "ok", logged=False)
            return statistics.median(times) * 1000
        finally:
            store.close()


def run(jobs: int = 3_000) -> list[Row]:
    one = per_job_ms(1, 1, jobs)
    results = {n: per_job_ms(n, 1, jobs) for n in (100, 1_000)}
    fifty = per_job_ms(50, 50, jobs)
    fifty_among = per_job_ms(1_000, 50, jobs)
    rows = [
        Row(
            f"lease per job, one backlog among {n:,} tenants vs 1",
            f"{ms_:.3f} ms",
            f"{one:.3f} ms",
            ms_ / one,
            "<= 1.3",
            ms_ / one <= 1.3,
        )
        for n, ms_ in results.items()
    ]
    rows.append(
        Row(
            "lease per job, 50 backlogs among 1,000 tenants vs among 50",
            f"{fifty_among:.3f} ms",
            f"{fifty:.3f} ms",
            fifty_among / fifty,
            "<= 1.3",
            fifty_among / fifty <= 1.3,
        )
    )
    notes = [
        machine(),
        f"chunks of {CHUNK}, {jobs:,} jobs leased per setting, median CPU per lease; idle "
        f"tenants: 6 periodic jobs later, {HISTORY} finished jobs each",
    ]
    print_table("lease cost per job by number of tenants", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3_000, help="jobs leased per setting")
    args = parser.parse_args()
    run(args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
