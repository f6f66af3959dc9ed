"""The database file over a retention cycle (issue 29, item 5): its size against its live data.

One app process (PERIODIC_SCALE=0.01, so a company's periodic runs come every 6-18 s instead
of every 10-30 min) serves COMPANIES companies: company 1001 installed through the real flow,
the others seeded (bench/seeding.py). The cycle has two halves, each with, per company, PERSONS
person `create` and then `change` webhooks through the app's receiver (events, jobs, sync-log
lines, Maileon syncs) and HALF seconds of periodic runs meanwhile; in the first half company
1001 also imports IMPORT persons from the settings card (the import stages its rows and deletes
them). Then the app stops and the retention prune runs, with the clock moved: this process's
clock (`store.db.now`) is set to RETENTION_DAYS after the end of the first half, and the app's
own periodic prune (`sync.runs.periodic.prune`: events, finished jobs, log lines, engagement,
then the free pages back to the disk) runs for every company. So what the first half left is
past retention, what the second half left is kept.

Measured: the file (page count x page size, after a WAL checkpoint) against its live data, a
compact copy of the same database written by `VACUUM INTO`. Target (issue 29): <= 1.3. Also the
file per company, and the same measures just before the prune.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from appconfig import Config
from bench.common import Installed, Row, Server, installed_app, machine, print_table
from bench.seeding import seed
from tests.harness import ADMIN, COMPANY
from tests.webhooks import person_v2

COMPANIES = 50
PERSONS = 100  # per company and half: a create and a change webhook each
IMPORT = 5_000
HALF = 20.0  # seconds of periodic runs per half, at least
SCALE = 0.01
CONCURRENCY = 16
TARGET = 1.3


async def _send(url: str, tenants: list[tuple[int, int, str]], first: int, half: int) -> None:
    """`create` then `change` webhooks of PERSONS persons per company through the receiver."""
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=60) as client:

        async def post(auth: str, body: dict[str, Any]) -> None:
            async with gate:
                r = await client.post(
                    f"{url}/webhooks/pipedrive",
                    content=json.dumps(body),
                    headers={"Authorization": auth, "Content-Type": "application/json"},
                )
            if r.status_code != 200:
                raise RuntimeError(f"webhook answered {r.status_code}: {r.text[:200]}")

        for action in ("create", "change"):
            bodies = [
                (
                    auth,
                    person_v2(
                        first + n,
                        action,
                        name=f"Cycle Person{n} H{half}",
                        email=f"p{first + n}@c{cid}.bench",
                        seconds=half * 1000 + (action == "change"),
                        meta={"company_id": str(cid), "user_id": str(admin)},
                    ),
                )
                for cid, admin, auth in tenants
                for n in range(PERSONS)
            ]
            await asyncio.gather(*(post(auth, body) for auth, body in bodies))


def _import(setting: Installed, app: Server, size: int, timeout: float = 300) -> float:
    """Company 1001's admin imports its Pipedrive persons from the settings card."""
    setting.sims.pd(
        "POST",
        "/_sim/bulk_persons",
        json={
            "company_id": COMPANY,
            "count": size,
            "email_domain": "import.test",
            "fire_webhooks": False,
        },
    )
    hx = {"HX-Request": "true", "Origin": app.url}
    started = time.monotonic()
    setting.client.post(f"{app.url}/settings/import/start", headers=hx).raise_for_status()
    while time.monotonic() - started < timeout:
        page = setting.client.get(f"{app.url}/settings/import", headers=hx).text
        if any(f'data-state="{s}"' in page for s in ("done", "stopped", "cancelled", "failed")):
            if 'data-state="done"' not in page:
                raise RuntimeError("the import did not finish")
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"the import was not done in {timeout}s")


def _half(
    setting: Installed, app: Server, tenants: list[tuple[int, int, str]], half: int
) -> dict[str, float]:
    started = time.monotonic()
    asyncio.run(_send(app.url, tenants, 100_000, half))
    out = {"webhooks": time.monotonic() - started}
    if half == 1:
        out["import"] = _import(setting, app, IMPORT)
    rest = HALF - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)  # periodic runs of every company meanwhile
    app.wait_idle(timeout=300)
    out["seconds"] = time.monotonic() - started
    return out


PAGES_BY_NAME = "SELECT name, count(*) FROM dbstat GROUP BY name"


def sizes(path: str, work: Path, tag: str) -> dict[str, Any]:
    """The file's bytes (after a WAL checkpoint), its free pages, and its live data's bytes (a
    VACUUM INTO copy), with the rows of the tables that grow."""
    compact = work / f"compact-{tag}.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        rows = {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("events", "jobs", "sync_log", "import_rows", "persons")
        }
        db.execute("VACUUM INTO ?", (str(compact),))
        by_name = dict(db.execute(PAGES_BY_NAME).fetchall())
    with closing(sqlite3.connect(compact)) as db:
        live = db.execute("PRAGMA page_count").fetchone()[0] * page
        live_by_name = dict(db.execute(PAGES_BY_NAME).fetchall())
    compact.unlink()
    excess = {n: by_name[n] - live_by_name.get(n, 0) for n in by_name}
    top = sorted(excess.items(), key=lambda kv: -kv[1])[:5]
    return {
        "file": pages * page,
        "free": free * page,
        "live": live,
        **rows,
        "excess": ", ".join(f"{n} +{p}" for n, p in top if p > 0),
    }


def prune_later(config: Config, companies: list[int], first_half_end: float) -> float:
    """The app's periodic prune of every company, on a clock RETENTION_DAYS after the end of
    the first half; returns the seconds it took."""
    from clients.http import new_http_client
    from store import db as clock
    from store.crypto import SecretBox
    from store.db import Store
    from store.queue import Job
    from sync.engine.context import Context
    from sync.runs.periodic import prune

    store = Store(config.database_path, SecretBox(config.encryption_keys))
    clock._ANCHOR += first_half_end + config.retention_days * 86400 - clock.now()

    async def all_companies() -> None:
        async with new_http_client(config.http_timeout) as http:
            ctx = Context.create(config, store, http)
            for cid in companies:
                job = Job(0, cid, "periodic.prune", "company", {"action": "run"}, "", 0)
                await prune(ctx, job)

    started = time.monotonic()
    asyncio.run(all_companies())
    store.close()
    return time.monotonic() - started


def run(companies: int = COMPANIES) -> list[Row]:
    with installed_app(
        "storage", split_sims=True, extra_env={"PERIODIC_SCALE": str(SCALE)}
    ) as setting:
        config = dataclasses.replace(setting.config, periodic_scale=SCALE)
        setting.app.stop()
        seeded = seed(setting, config, companies - 1)
        tenants = [(COMPANY, ADMIN, setting.auth)]
        tenants += [(cid, 40_001 + k, auth) for k, (cid, auth) in enumerate(seeded)]
        app = Server("web.app:app", setting.app.port, setting.env, setting.work / "app2.log")
        setting.app = app
        app.start(timeout=120)
        first = _half(setting, app, tenants, 1)
        first_half_end = time.time()
        second = _half(setting, app, tenants, 2)
        app.stop()
        before = sizes(config.database_path, setting.work, "before")
        pruned_in = prune_later(config, [cid for cid, _, _ in tenants], first_half_end)
        after = sizes(config.database_path, setting.work, "after")

    ratio = after["file"] / after["live"]
    mb = 1024 * 1024
    rows = [
        Row(
            "file after the retention prune vs its live data (VACUUM INTO)",
            f"{after['file'] / mb:.2f} MB",
            f"{after['live'] / mb:.2f} MB",
            ratio,
            f"<= {TARGET:.2f}",
            ratio <= TARGET,
        ),
        Row(
            "file per company after the prune",
            f"{after['file'] / companies / 1024:.0f} KB",
            f"{after['live'] / companies / 1024:.0f} KB",
            after["file"] / after["live"],
            "",
            None,
        ),
        Row(
            "the same just before the prune (two halves of rows, the import's free pages)",
            f"{before['file'] / mb:.2f} MB",
            f"{before['live'] / mb:.2f} MB",
            before["file"] / before["live"],
            "",
            None,
        ),
    ]
    counts = ", ".join(
        f"{t} {before[t]:.0f} -> {after[t]:.0f}"
        for t in ("events", "jobs", "sync_log", "import_rows", "persons")
    )
    notes = [
        machine(),
        f"{companies} companies, {PERSONS} persons each (a create and a change webhook per "
        f"half), an import of {IMPORT} persons by company {COMPANY} in the first half; "
        f"PERIODIC_SCALE {SCALE}; halves of {first['seconds']:.0f} s and "
        f"{second['seconds']:.0f} s (webhooks {first['webhooks']:.0f} s and "
        f"{second['webhooks']:.0f} s, import {first['import']:.0f} s)",
        f"rows before -> after the prune: {counts}",
        f"free pages before the prune {before['free'] / mb:.2f} MB, after "
        f"{after['free'] / mb:.2f} MB; the prune of all companies took {pruned_in:.1f} s",
        f"pages more than the compact copy, after the prune: {after['excess']}",
    ]
    print_table("Storage over a retention cycle", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=COMPANIES)
    args = parser.parse_args()
    run(args.companies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
