"""A sync-rules run that removes contacts (F14): N persons with a Maileon contact stop
matching (rules: only the label Customer, which none has; "remove" chosen), the admin previews
and applies the change from the settings card, Maileon answers after 50 ms.

The persons get their contacts first through the import (F12), started from the card. The apply is
timed from the admin's click to the card saying done, and the run's Maileon calls are
counted. The bound: the removals' calls x latency / WORKER_CONCURRENCY, plus one Pipedrive
page read per 500 persons (each waits for the previous one's cursor). Target: at most 1.5x,
for each size, so the time grows linearly with the persons (before: a DELETE at a time after
a scan of all persons per lookup).
"""

from __future__ import annotations

import argparse
import html
import math
import re
import time
from typing import Any

from bench.common import Row, installed_app, machine, print_table

SIZES = (1_000, 5_000)
LATENCY_MS = 50
TARGET = 1.5


def _card(setting: Any) -> str:
    hx = {"HX-Request": "true", "Origin": setting.app.url}
    return str(setting.client.get(f"{setting.app.url}/settings/rules", headers=hx).text)


def _wait(setting: Any, state: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = _card(setting)
        if f'data-state="{state}"' in page:
            return page
        time.sleep(0.05)
    raise RuntimeError(f"rules run not {state} in {timeout}s")


def _one(size: int, latency_ms: int) -> dict[str, Any]:
    with installed_app("removal") as setting:
        app, sims = setting.app, setting.sims
        hx = {"HX-Request": "true", "Origin": app.url}
        sims.pd(
            "POST",
            "/_sim/bulk_persons",
            json={"company_id": 1001, "count": size, "fire_webhooks": False},
        )
        setting.client.post(f"{app.url}/settings/import/start", headers=hx).raise_for_status()
        deadline = time.monotonic() + 300
        while (
            'data-state="done"'
            not in setting.client.get(f"{app.url}/settings/import", headers=hx).text
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the import of the persons did not finish")
            time.sleep(0.25)
        app.wait_idle(timeout=300)
        settings = app_page = _card(setting)
        found = re.search(
            r'name="labels" value="(\d+)"[^>]*><label for="label_\d+">Customer', settings
        )
        if not found:
            raise RuntimeError("no Customer label in the rules form")
        r = setting.client.post(
            f"{app.url}/settings/rules/preview",
            data={"mode": "rules", "labels": found.group(1), "on_stop": "remove"},
            headers=hx,
        )
        r.raise_for_status()
        page = _wait(setting, "previewed", 300)
        run_id = re.search(r'name="run_id" value="(\d+)"', page)
        if not run_id:
            raise RuntimeError(f"no run to apply: {html.unescape(app_page[:200])}")
        sims.ml("POST", "/_sim/latency", json={"ms": latency_ms})
        since_ms = int(time.time() * 1000)
        cpu = app.cpu_seconds()
        started = time.monotonic()
        # the admin ticks "Yes, remove N contacts", as the card asks before any removal
        confirm = re.search(r'name="confirm_remove" value="(\d+)"', page)
        form = {
            "run_id": run_id.group(1),
            **({"confirm_remove": confirm.group(1)} if confirm else {}),
        }
        setting.client.post(
            f"{app.url}/settings/rules/apply", data=form, headers=hx
        ).raise_for_status()
        _wait(setting, "done", 900)
        seconds = time.monotonic() - started
        cpu = app.cpu_seconds() - cpu
        calls = sims.maileon_requests(since_ms)
        left = len(sims.ml("GET", "/_sim/state")["contacts"])
        sims.ml("POST", "/_sim/latency", json={"ms": 0})
        concurrency = setting.config.worker_concurrency
    deletes = sum(1 for c in calls if c["method"] == "DELETE")
    return {
        "size": size,
        "seconds": seconds,
        "calls": len(calls),
        "deletes": deletes,
        "left": left,
        "cpu": cpu,
        "concurrency": concurrency,
    }


def run(sizes: tuple[int, ...] = SIZES, latency_ms: int = LATENCY_MS) -> list[Row]:
    results = [_one(size, latency_ms) for size in sizes]
    rows = []
    for r in results:
        pages = math.ceil(r["size"] / 500)
        bound = (r["calls"] / r["concurrency"] + pages) * latency_ms / 1000
        ratio = r["seconds"] / bound
        rows.append(
            Row(
                f"{r['size']}: removal run vs calls x {latency_ms} ms / {r['concurrency']}",
                f"{r['seconds']:.2f} s",
                f"{bound:.2f} s ({r['calls']} calls, {pages} pages)",
                ratio,
                f"<= {TARGET:.2f}",
                ratio <= TARGET and r["deletes"] == r["size"] and r["left"] == 0,
            )
        )
    notes = [
        machine(),
        f"Maileon latency {latency_ms} ms (Pipedrive none); each size in a fresh setting",
        *(
            f"{r['size']}: {r['deletes']} DELETE calls, {r['left']} contacts left, app CPU "
            f"{r['cpu']:.2f} s ({r['cpu'] / r['size'] * 1000:.2f} ms per removal)"
            for r in results
        ),
    ]
    print_table(f"Sync rules: removing contacts at {latency_ms} ms", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--latency", type=int, default=LATENCY_MS, help="Maileon latency, ms")
    args = parser.parse_args()
    run(tuple(int(s) for s in args.sizes.split(",")), args.latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
