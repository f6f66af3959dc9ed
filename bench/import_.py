"""Import existing contacts (F12, sync/runs/import_run.py) of 10k and then 100k persons.

The company is installed through the real flow (contacts sync off, so only the import talks to
Maileon); the simulated Pipedrive gets the persons through its bulk control call (no webhooks);
the admin starts the import from the settings card (POST /settings/import/start, as the browser
does) and the card is polled until it says done. The app is a separate uvicorn process.

Measured against the minimum: Pipedrive list calls vs ceil(N / 500) (API v2 page size: each
page read once), Maileon synchronize calls vs ceil(N / 1000) per permission present (the app's
batch; Maileon documents no limit, the simulator refuses more than 1,000), and the app
process's peak RSS (VmHWM), which should stay flat (< 200 MB) from 10k to 100k persons.

By default only 10k runs: the simulated Pipedrive filters and sorts all persons for every page
(O(N) per page), so 100k persons take it ~10 minutes of CPU, while the app itself uses ~20 s.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from typing import Any
from urllib.parse import parse_qs

from bench.common import Row, installed_app, machine, print_table

PD_PAGE = 500
MAILEON_BATCH = 1000  # sync/runs/import_run.py SEND_BATCH: one synchronize per batch and permission
SIZES = (10_000,)  # --sizes 10000,100000 adds the 100k run: ~10 min, see docs/performance.md
MEMORY_LIMIT_MB = 200.0


def _state(html: str) -> tuple[str, str]:
    state = re.search(r'data-state="([a-z]+)"', html)
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
    return (state.group(1) if state else ""), plain


def run(sizes: tuple[int, ...] = SIZES, timeout: float = 900.0) -> list[Row]:
    results: list[dict[str, Any]] = []
    with installed_app("import", contacts_sync=False) as setting:
        app, sims, client = setting.app, setting.sims, setting.client
        hx = {"HX-Request": "true", "Origin": app.url}
        total = 0
        for size in sizes:
            sims.pd(
                "POST",
                "/_sim/bulk_persons",
                json={
                    "company_id": 1001,
                    "count": size - total,
                    "email_domain": f"n{size}.test",
                    "fire_webhooks": False,
                },
            )
            total = size
            pd_before = sims.pd("GET", "/_sim/state")["requests"]
            since_ms = int(time.time() * 1000)
            rss_before, _ = app.memory_mb()
            started = time.monotonic()
            r = client.post(f"{app.url}/settings/import/start", headers=hx)
            r.raise_for_status()
            plain = ""
            while time.monotonic() - started < timeout:
                state, plain = _state(client.get(f"{app.url}/settings/import", headers=hx).text)
                if state in ("done", "stopped", "cancelled", "failed"):
                    break
                time.sleep(0.5)
            else:
                raise RuntimeError(f"import of {size} not done in {timeout}s: {plain[:300]}")
            seconds = time.monotonic() - started
            app.wait_idle(timeout=60)
            rss, peak = app.memory_mb()
            pd_all = sims.pd("GET", "/_sim/state")["requests"]
            new_pd = pd_all[len(pd_before) :] if len(pd_all) > len(pd_before) else []
            lists = [
                q for q in new_pd if q.get("method") == "GET" and q.get("path") == "/api/v2/persons"
            ]
            syncs = [
                q
                for q in sims.maileon_requests(since_ms)
                if q["method"] == "POST" and q["path"] == "/1.0/contacts"
            ]
            contacts = sims.ml("GET", "/_sim/state")["contacts"]
            done = re.search(r"(\d+) of (\d+) persons processed", plain)
            results.append(
                {
                    "size": size,
                    "state": state,
                    "seconds": seconds,
                    "lists": len(lists),
                    "list_429": sum(1 for q in lists if q.get("status") == 429),
                    "syncs": len(syncs),
                    "permissions": len(
                        {parse_qs(q.get("query") or "").get("permission", [""])[0] for q in syncs}
                    ),
                    "rss_before": rss_before,
                    "rss": rss,
                    "peak": peak,
                    "contacts": len(contacts),
                    "shown": done.group(0) if done else plain[:120],
                }
            )
            print(
                f"  {size}: {state} in {seconds:.1f}s; {results[-1]['shown']}; "
                f"{len(lists)} Pipedrive list calls, {len(syncs)} Maileon synchronize calls; "
                f"peak RSS {peak:.0f} MB",
                flush=True,
            )

    rows = []
    for res in results:
        n = res["size"]
        pd_min = math.ceil(n / PD_PAGE)
        ml_min = math.ceil(n / MAILEON_BATCH) * max(1, res["permissions"])
        rows += [
            Row(
                f"{n}: Pipedrive list calls",
                str(res["lists"]),
                f"{pd_min} pages",
                res["lists"] / pd_min,
                "<= 1.00",
                res["lists"] <= pd_min,
            ),
            Row(
                f"{n}: Maileon synchronize calls",
                str(res["syncs"]),
                f"{ml_min} batches",
                res["syncs"] / ml_min,
                "<= 1.00",
                res["syncs"] <= ml_min,
            ),
            Row(
                f"{n}: app peak RSS",
                f"{res['peak']:.0f} MB",
                f"{MEMORY_LIMIT_MB:.0f} MB",
                res["peak"] / MEMORY_LIMIT_MB,
                "< 1.00",
                res["peak"] < MEMORY_LIMIT_MB,
            ),
        ]
    if len(results) == 2:
        growth = results[1]["peak"] / results[0]["peak"]
        rows.append(
            Row(
                "peak RSS growth 10x persons",
                f"{results[1]['peak']:.0f} MB",
                f"{results[0]['peak']:.0f} MB",
                growth,
                "<= 1.20 (flat)",
                growth <= 1.2,
            )
        )
    notes = [machine()] + [
        f"{r['size']}: {r['state']} in {r['seconds']:.1f}s ({r['shown']}); "
        f"{r['list_429']} list calls answered 429; {r['contacts']} contacts in Maileon; "
        f"RSS {r['rss_before']:.0f} -> {r['rss']:.0f} MB"
        for r in results
    ]
    print_table("Import existing contacts", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated person counts, ascending",
    )
    args = parser.parse_args()
    run(tuple(int(s) for s in args.sizes.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
