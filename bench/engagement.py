"""F15 engagement: the panel's first render with engagement, and reading 10,000 report events.

1. Panel: the company is installed through the real flow; one person is synced to the simulated
   Maileon, gets 10 mailings with a click each, and the panel's background refresh has read them
   once. Timed: the panel's first render as the browser loads it, the status fragment (Maileon
   lookup) and the engagement fragment (from what the app holds) requested together, against one
   Maileon contact lookup straight to the simulator. Target: <= 1.2 (medians).
2. Reading: 10,000 events (40 DOI+ contacts x 125 mailings, each sent and clicked) in the
   simulated Maileon, read in-process by `sync.syncback.engagement.reader.read_window` into a
   fresh store over real HTTP. Shown: the calls it makes against the least possible (one per
   1,000 rows of each report, plus the two label calls per new mailing), and its time against
   that many round trips of one report page.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt

from bench.common import Row, Sims, installed_app, machine, ms
from bench.common import print_table as show
from clients.maileon import MaileonClient
from store import people
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store
from store.people import PersonState
from sync.syncback.engagement import reader
from tests.harness import ADMIN, COMPANY, MAILEON_KEY
from tests.unit.conftest import add_company

LATENCY_MS = 50
SAMPLES = 20
CONTACTS, MAILINGS = 40, 125


def basic() -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode(),
        "Accept": "application/vnd.maileon.api+xml",
    }


async def _together(urls: list[str], headers: dict[str, str]) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.get(u, headers=headers) for u in urls))
        elapsed = time.perf_counter() - started
    for r in answers:
        if r.status_code != 200:
            raise RuntimeError(f"{r.url}: {r.status_code}")
    return elapsed


def panel(latency_ms: int, samples: int) -> list[Row]:
    with installed_app("engagement") as setting:
        app, sims, config = setting.app, setting.sims, setting.config
        email = "grace@bench.test"
        person = sims.pd(
            "POST",
            "/_sim/persons",
            json={"company_id": COMPANY, "name": "Grace Hopper", "email": email},
        )
        deadline = time.monotonic() + 30
        while not any(c["email"] == email for c in sims.ml("GET", "/_sim/state")["contacts"]):
            if time.monotonic() > deadline:
                raise RuntimeError("the person was not synced to Maileon")
            time.sleep(0.1)
        app.wait_idle()
        for i in range(10):  # transactional mailings reach a contact without permission
            mid = sims.ml(
                "POST",
                "/_sim/mailings",
                json={"name": f"Order {i}", "type": "trigger", "contacts": [email]},
            )["mailing_id"]
            sims.ml("POST", f"/_sim/mailings/{mid}/act", json={"contact": email, "action": "click"})
        t = int(time.time())
        token = jwt.encode(
            {"companyId": COMPANY, "userId": ADMIN, "iat": t, "exp": t + 3600},
            config.client_secret,
            algorithm="HS256",
        )
        headers = {"X-Pipedrive-Token": token, "HX-Request": "true"}
        pid = person["id"]
        engagement_url = f"{app.url}/panel/engagement?selectedIds={pid}"
        status_url = f"{app.url}/panel/status?selectedIds={pid}"
        with httpx.Client(timeout=30) as client:
            r = client.get(engagement_url + "&refresh=1", headers=headers)
            if "Order 9" not in r.text:
                raise RuntimeError("the panel's refresh did not read the mailings")
        lookup_url = f"{sims.ml_url}/1.0/contacts/email/{quote(email, safe='')}"
        sims.ml("POST", "/_sim/latency", json={"ms": latency_ms})
        lookup, first = [], []
        for _ in range(samples + 2):
            lookup.append(asyncio.run(_together([lookup_url], basic())))
            first.append(asyncio.run(_together([status_url, engagement_url], headers)))
        sims.ml("POST", "/_sim/latency", json={"ms": 0})
    base, med = statistics.median(lookup[2:]), statistics.median(first[2:])
    ratio = med / base
    return [
        Row(
            "panel first render with engagement vs one Maileon lookup",
            ms(med),
            ms(base),
            ratio,
            "<= 1.20",
            ratio <= 1.2,
        )
    ]


def reading() -> tuple[list[Row], list[str]]:
    sims = Sims()
    work = Path(tempfile.mkdtemp(prefix="pm-bench-engagement-"))
    try:
        emails = [f"c{i}@bench.test" for i in range(CONTACTS)]
        for i, email in enumerate(emails):
            sims.ml(
                "POST",
                "/_sim/contacts",
                json={"email": email, "permission": 5, "external_id": str(1000 + i)},
            )
        started_ms = int(time.time() * 1000) - 1
        for m in range(MAILINGS):
            mid = sims.ml("POST", "/_sim/mailings", json={"name": f"News {m}", "contacts": emails})[
                "mailing_id"
            ]
            for email in emails:
                sims.ml(
                    "POST",
                    f"/_sim/mailings/{mid}/act",
                    json={"contact": email, "action": "click", "link_url": f"https://x.test/{m}"},
                )
        until_ms = int(time.time() * 1000) + 1
        store = Store(str(work / "app.db"), SecretBox(parse_keys(new_key())))
        add_company(store, COMPANY)
        for i, email in enumerate(emails):
            people.save(store, PersonState(COMPANY, 1000 + i, email=email))

        async def read() -> tuple[reader.ReadResult, float, float]:
            async with httpx.AsyncClient(timeout=60) as http:
                maileon = MaileonClient(http, f"{sims.ml_url}/1.0", MAILEON_KEY)
                one = time.perf_counter()
                await maileon.request(
                    "GET",
                    "/reports/clicks",
                    params={"from_date": str(started_ms), "page_size": "1000"},
                )
                round_trip = time.perf_counter() - one
                begun = time.perf_counter()
                result = await reader.read_window(store, maileon, COMPANY, started_ms, until_ms)
                elapsed = time.perf_counter() - begun
                again = await reader.read_window(store, maileon, COMPANY, started_ms, until_ms)
                if again.new:
                    raise RuntimeError("a second read of the same window stored events again")
                return result, elapsed, round_trip

        result, elapsed, round_trip = asyncio.run(read())
        per_report = CONTACTS * MAILINGS
        least = 2 * math.ceil(per_report / 1000) + 4 + 2 * MAILINGS  # sent, clicks; 4 empty; labels
        rows = [
            Row(
                f"read {result.rows:,} report rows: calls vs the least possible",
                str(result.calls + 2 * MAILINGS),
                str(least),
                (result.calls + 2 * MAILINGS) / least,
                "<= 1.00",
                result.calls + 2 * MAILINGS <= least,
            ),
            Row(
                "read time vs that many round trips of one 1,000-row page",
                ms(elapsed),
                ms(round_trip * least),
                elapsed / (round_trip * least),
                "",
                None,
            ),
        ]
        notes = [f"{len(result.new):,} events stored; a second read stores none (natural key)"]
        return rows, notes
    finally:
        sims.stop()
        shutil.rmtree(work, ignore_errors=True)  # the throwaway store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=LATENCY_MS, help="Maileon latency, ms")
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args()
    rows = panel(args.latency, args.samples)
    more, notes = reading()
    show("F15 engagement", rows + more, [machine(), *notes])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
