"""Webhook intake: throughput and p99 latency of POST /webhooks/pipedrive against a bare
Starlette endpoint that only answers 200 (bench/bare.py), both served by the same uvicorn with
the same options, one worker process each, measured in alternating rounds in one run.

The app does its real work on every request: Basic auth against the company's stored webhook
credentials, JSON parse, `parse_pipedrive`, and `queue.record_event` (event + job in one SQLite
transaction, WAL, synchronous=NORMAL) before answering 200. The company is set up through the
real install flow against the simulated Pipedrive (OAuth consent, callback, settings with the
Maileon key and contacts sync on), and the payloads are person v2 `change` events with distinct
meta.id, signed with the Basic credentials the app registered in Pipedrive. The in-process
worker runs as in production and syncs the queued persons to the simulated Maileon (fixed
20 ms latency) while the load runs; bursts touch PERSONS persons, so they coalesce.

Both servers get byte-identical request shapes (same headers, same body sizes), sent by a lean
asyncio HTTP/1.1 client with CONCURRENCY keep-alive connections (closed loop) in this process;
the simulators run in a third process.

Targets (issue 9): throughput >= 0.6 x the bare endpoint's, p99 <= 2 x the bare endpoint's.

Also measured, without target: the cost of synchronous=FULL over NORMAL for record_event
(in-process, same disk), which is why store/db.py chose NORMAL.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

from bench.common import (
    LoadResult,
    Row,
    Server,
    Sims,
    Workdir,
    closed_loop,
    http_post,
    install_company,
    machine,
    ms,
    new_app,
    print_table,
)
from sandbox.server import free_port
from tests.webhooks import person_v2

CONCURRENCY = 16
WARMUP = 1.0
DURATION = 5.0
ROUNDS = 2
PERSONS = 200
MAILEON_LATENCY_MS = 20
MAX_REQUESTS = 40_000  # per round: bounds the run whatever the speed


def prepared(port: int, auth: str, count: int, offset: int) -> list[bytes]:
    """`count` valid person v2 change events with distinct meta.id as raw HTTP requests."""
    out = []
    for i in range(offset, offset + count):
        pid = 10_000 + i % PERSONS
        body = person_v2(pid, "change", name=f"Bench Person{i}", email=f"p{pid}@bench.test",
                         seconds=i, previous={"name": f"Bench Person{i - 1}"})
        out.append(http_post(port, "/webhooks/pipedrive",
                             json.dumps(body, separators=(",", ":")).encode(),
                             {"Authorization": auth}))
    return out


def sqlite_sync_cost(work: Path, events: int = 1500) -> tuple[float, float]:
    """record_event per second with synchronous=NORMAL and =FULL on the same disk."""
    from store import queue, tenants
    from store.crypto import SecretBox, new_key, parse_keys
    from store.db import Store

    rates = []
    for mode in ("NORMAL", "FULL"):
        store = Store(str(work / f"sync-{mode}.db"), SecretBox(parse_keys(new_key())), mode)
        with store.tx() as db:
            tenants.upsert_company(store, db, 1, "bench", "bench", "")
        started = time.perf_counter()
        for i in range(events):
            body = person_v2(i % PERSONS, "change", name=f"P {i}", seconds=i)
            queue.record_event(store, company_id=1, source="pipedrive",
                               dedupe_key=f"pd2:{body['meta']['id']}", kind="person.change",
                               entity_id=str(i % PERSONS), payload=body, job_kind="person",
                               job_payload={"action": "change", "data": body["data"]},
                               version=body["data"]["update_time"])
        rates.append(events / (time.perf_counter() - started))
        store.close()
    return rates[0], rates[1]


VARIANTS = {  # name -> simulated Maileon latency in ms while the app is loaded
    "bare": None,
    "app": 2000,         # the worker waits on 8 slow Maileon calls: the endpoint's own cost
    "app+worker": None,  # the worker syncs the burst to Maileon at --maileon-latency meanwhile
}


def run(duration: float = DURATION, rounds: int = ROUNDS,
        maileon_latency_ms: int = MAILEON_LATENCY_MS) -> list[Row]:
    work = Workdir("intake")
    sims = Sims()
    app = bare = None
    totals = {name: LoadResult() for name in VARIANTS}
    server_cpu = dict.fromkeys(VARIANTS, 0.0)
    try:
        config, env, port = new_app(work.path, sims)
        app = Server("web.app:app", port, env, work.path / "app.log").start()
        _, auth, _ = install_company(sims, config, app.url)
        app.wait_idle()
        bare = Server("bench.bare:app", free_port(), env, work.path / "bare.log").start()
        offset = 0
        for r in range(rounds):
            for name, latency in VARIANTS.items():
                server = bare if name == "bare" else app
                if server is app:
                    sims.ml("POST", "/_sim/latency", json={"ms": latency or maileon_latency_ms})
                requests = prepared(server.port, auth, MAX_REQUESTS, offset)
                offset += MAX_REQUESTS
                cpu = server.cpu_seconds()
                res = closed_loop(server.port, requests, CONCURRENCY, WARMUP, duration)
                server_cpu[name] += server.cpu_seconds() - cpu
                bad = {s: n for s, n in res.statuses.items() if s != 200}
                if bad:
                    raise RuntimeError(f"{name} answered non-200: {bad}; see {work.path}")
                print(f"  round {r + 1} {name:10}: {res.throughput:6.0f} req/s  "
                      f"p50 {ms(res.p50)}  p99 {ms(res.p99)}  "
                      f"(load generator CPU {res.client_cpu / (WARMUP + duration):.0%})",
                      flush=True)
                totals[name].merge(res)
                if server is app:  # let the worker catch up so no round pays for the last
                    sims.ml("POST", "/_sim/latency", json={"ms": 0})
                    app.wait_idle()
        app.stop()
        with sqlite3.connect(config.database_path) as db:
            stored = db.execute("SELECT count(*) FROM events WHERE source='pipedrive'"
                                ).fetchone()[0]
        normal, full = sqlite_sync_cost(work.path)
    finally:
        for server in (app, bare):
            if server is not None:
                server.stop()
        sims.stop()
        work.cleanup()

    b = totals["bare"]
    rows = []
    for name, label in (("app", "endpoint"), ("app+worker", "with worker syncing")):
        a = totals[name]
        tput, p99 = a.throughput / b.throughput, a.p99 / b.p99
        rows += [
            Row(f"intake throughput, {label}", f"{a.throughput:.0f} req/s",
                f"{b.throughput:.0f} req/s", tput, ">= 0.60", tput >= 0.6),
            Row(f"intake p99, {label}", ms(a.p99), ms(b.p99), p99, "<= 2.00", p99 <= 2.0),
            Row(f"intake p50, {label}", ms(a.p50), ms(b.p50), a.p50 / b.p50, "", None),
        ]
    rows.append(Row("record_event, synchronous FULL vs NORMAL", f"{full:.0f}/s",
                    f"{normal:.0f}/s", full / normal, "", None))
    acked = totals["app"].acked + totals["app+worker"].acked
    per_req = {n: server_cpu[n] / max(1, totals[n].acked) * 1e3 for n in VARIANTS}
    notes = [
        machine(),
        f"{rounds} rounds of {duration:.0f}s (+{WARMUP:.0f}s warm-up) per variant, alternating "
        f"bare / app / app+worker; {CONCURRENCY} keep-alive connections; "
        f"{sum(t.completed for t in totals.values())} measured requests, all answered 200",
        "'endpoint': the simulated Maileon answers after 2 s, so the worker sits on 8 waiting "
        "calls; 'with worker syncing': Maileon answers after "
        f"{maileon_latency_ms} ms and the in-process worker syncs the {PERSONS} persons meanwhile",
        "server CPU per answered request: " + ", ".join(
            f"{n} {v:.2f} ms" for n, v in per_req.items()),
        f"events stored by the app: {stored}; app requests answered 200 (incl. warm-up): "
        f"{acked}" + (" - all stored" if stored == acked else " - MISMATCH"),
    ]
    print_table("Webhook intake (POST /webhooks/pipedrive) vs bare Starlette endpoint", rows,
                notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--maileon-latency", type=int, default=MAILEON_LATENCY_MS,
                        help="ms the simulated Maileon waits before each answer")
    args = parser.parse_args()
    run(args.duration, args.rounds, args.maileon_latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
