"""Import (F12) at a realistic round trip: 1k, 10k (and, with --sizes, 50k) persons with 50 ms
of latency on both simulated APIs, against the round-trip bound (pages + 1) x latency.

Each size gets a fresh setting (simulators, app process, company installed through the real
flow with contacts sync off), so no size finds contacts of another in Maileon. The persons go
into the simulated Pipedrive through its bulk control call (no webhooks), both simulators then
answer after LATENCY_MS, and the admin starts the import from the settings card. The time is
the import's own (`imports.finished_at - started_at`, read from the app's database file), so
the card's polling interval does not blur it. The two simulators run in a process each: in one,
Maileon parsing a batch of 1,000 would hold up Pipedrive's next page (one GIL).

The bound: ceil(N / 500) Pipedrive pages read one after the other (each needs the previous
one's cursor), plus one Maileon synchronize for the last batch: (pages + 1) x latency. The
reads and the writes overlap, so the writes of all earlier batches hide behind the reads.
Target: at most 2x the bound. Also shown: Maileon synchronize calls against ceil(N / 1000), the
app's CPU seconds per 1,000 persons, the simulators' CPU (their own process, sharing the two
cores), and the app's peak RSS.

50k persons take the simulated Pipedrive most of a core for a minute (it filters and sorts all
persons for every page), so the default is 1k and 10k.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import time
from typing import Any

from bench.common import Row, installed_app, machine, print_table

PD_PAGE = 500
MAILEON_BATCH = 1000
LATENCY_MS = 50
SIZES = (1_000, 10_000)
TARGET = 2.0


def _one(size: int, latency_ms: int, timeout: float) -> dict[str, Any]:
    with installed_app("import-latency", split_sims=True, contacts_sync=False) as setting:
        app, sims, client = setting.app, setting.sims, setting.client
        hx = {"HX-Request": "true", "Origin": app.url}
        sims.pd(
            "POST",
            "/_sim/bulk_persons",
            json={"company_id": 1001, "count": size, "fire_webhooks": False},
        )
        for sim in (sims.pd, sims.ml):
            sim("POST", "/_sim/latency", json={"ms": latency_ms})
        since_ms = int(time.time() * 1000)
        cpu, sims_cpu = app.cpu_seconds(), sims.cpu_seconds()
        started = time.monotonic()
        client.post(f"{app.url}/settings/import/start", headers=hx).raise_for_status()
        state = ""
        while time.monotonic() - started < timeout:
            page = client.get(f"{app.url}/settings/import", headers=hx).text
            found = re.search(r'data-state="([a-z]+)"', page)
            state = found.group(1) if found else ""
            if state in ("done", "stopped", "cancelled", "failed"):
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"import of {size} not done in {timeout}s")
        app.wait_idle(timeout=60)
        cpu = app.cpu_seconds() - cpu
        sims_cpu = sims.cpu_seconds() - sims_cpu
        _, peak = app.memory_mb()
        db = sqlite3.connect(f"file:{setting.config.database_path}?mode=ro", uri=True)
        started_at, finished_at, imported = db.execute(
            "SELECT started_at, finished_at, imported FROM imports ORDER BY id DESC LIMIT 1"
        ).fetchone()
        db.close()
        syncs = [
            q
            for q in sims.maileon_requests(since_ms)
            if q["method"] == "POST" and q["path"] == "/1.0/contacts"
        ]
        for sim in (sims.pd, sims.ml):
            sim("POST", "/_sim/latency", json={"ms": 0})
    return {
        "size": size,
        "state": state,
        "seconds": (finished_at or 0) - started_at,
        "imported": imported,
        "syncs": len(syncs),
        "cpu": cpu,
        "sims_cpu": sims_cpu,
        "peak": peak,
    }


def run(
    sizes: tuple[int, ...] = SIZES, latency_ms: int = LATENCY_MS, timeout: float = 900.0
) -> list[Row]:
    results = []
    for size in sizes:
        results.append(_one(size, latency_ms, timeout))
        r = results[-1]
        print(
            f"  {size}: {r['state']} in {r['seconds']:.2f}s, {r['imported']} imported, "
            f"{r['syncs']} synchronize calls, app CPU {r['cpu']:.2f}s, sims CPU "
            f"{r['sims_cpu']:.2f}s, peak RSS {r['peak']:.0f} MB",
            flush=True,
        )
    rows = []
    for r in results:
        n = r["size"]
        pages = math.ceil(n / PD_PAGE)
        bound = (pages + 1) * latency_ms / 1000
        batches = math.ceil(n / MAILEON_BATCH)
        rows += [
            Row(
                f"{n}: import time vs (pages + 1) x {latency_ms} ms",
                f"{r['seconds']:.2f} s",
                f"{bound:.2f} s ({pages} pages)",
                r["seconds"] / bound,
                f"<= {TARGET:.2f}",
                r["state"] == "done" and r["imported"] == n and r["seconds"] / bound <= TARGET,
            ),
            Row(
                f"{n}: Maileon synchronize calls",
                str(r["syncs"]),
                f"{batches} batches of {MAILEON_BATCH}",
                r["syncs"] / batches,
                "<= 1.00",
                r["syncs"] <= batches,
            ),
            Row(
                f"{n}: app CPU per 1,000 persons",
                f"{r['cpu'] / n * 1000:.3f} s",
                "",
                None,
                "",
                None,
            ),
        ]
    notes = [
        machine(),
        f"latency {latency_ms} ms on both simulated APIs; each size in a fresh setting",
        *(
            f"{r['size']}: {r['imported']} imported; app CPU {r['cpu']:.2f} s, simulators' CPU "
            f"{r['sims_cpu']:.2f} s (their own process), app peak RSS {r['peak']:.0f} MB"
            for r in results
        ),
    ]
    print_table(f"Import at {latency_ms} ms latency", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="e.g. 1000,10000,50000")
    parser.add_argument("--latency", type=int, default=LATENCY_MS, help="ms, both APIs")
    args = parser.parse_args()
    run(tuple(int(s) for s in args.sizes.split(",")), args.latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
