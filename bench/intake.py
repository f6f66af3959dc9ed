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

Both servers get the same request shapes, from `wrk` (2 threads, 16 connections, bench/wrk.py)
when it is installed, else from a lean asyncio HTTP/1.1 client with CONCURRENCY keep-alive
connections (closed loop) in this process; the simulators run in a third process. The best of
the alternating rounds counts for each server.

Targets (issues 9 and 14): throughput >= 0.6 x the bare endpoint's, p99 <= 2 x the bare
endpoint's.

Also measured, without target: the cost of synchronous=FULL over NORMAL for record_event
(in-process, same disk), which is why store/db.py chose NORMAL.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from bench.common import (
    Round,
    Row,
    Server,
    closed_loop,
    http_post,
    installed_app,
    machine,
    ms,
    print_table,
)
from sandbox.server import free_port
from tests.harness import COMPANY
from tests.webhooks import person_v2

THREADS = 2
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
        body = person_v2(
            pid,
            "change",
            name=f"Bench Person{i}",
            email=f"p{pid}@bench.test",
            seconds=i,
            previous={"name": f"Bench Person{i - 1}"},
        )
        out.append(
            http_post(
                port,
                "/webhooks/pipedrive",
                json.dumps(body, separators=(",", ":")).encode(),
                {"Authorization": auth},
            )
        )
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
            queue.record_event(
                store,
                company_id=1,
                source="pipedrive",
                dedupe_key=f"pd2:{body['meta']['id']}",
                kind="person.change",
                entity_id=str(i % PERSONS),
                payload=body,
                job_kind="person",
                job_payload={"action": "change", "data": body["data"]},
                version=body["data"]["update_time"],
            )
        rates.append(events / (time.perf_counter() - started))
        store.close()
    return rates[0], rates[1]


VARIANTS = {  # name -> simulated Maileon latency in ms while the app is loaded
    "bare": None,
    "app": 2000,  # the worker waits on 8 slow Maileon calls: the endpoint's own cost
    "app+worker": None,  # the worker syncs the burst to Maileon at --maileon-latency meanwhile
}


def measure(
    server: Server,
    name: str,
    round_no: int,
    work: Path,
    auth: str,
    use_wrk: bool,
    duration: float,
    offset: int,
) -> Round:
    """A warm-up, then one measured round against `server`."""
    if use_wrk:

        def script(tag: str) -> Path:
            return wrk.write_script(work / f"{tag}.lua", auth, tag, PERSONS, COMPANY)

        wrk.run(server.url + "/", script(f"w{round_no}{name}"), THREADS, CONCURRENCY, WARMUP)
        return wrk.run(
            server.url + "/", script(f"r{round_no}{name}"), THREADS, CONCURRENCY, duration
        )
    requests = prepared(server.port, auth, MAX_REQUESTS, offset)
    return closed_loop(server.port, requests, CONCURRENCY, WARMUP, duration).as_round()


@dataclass
class Measured:
    """What the rounds measured, per variant, and what the app stored meanwhile."""

    rounds: dict[str, list[Round]]
    server_cpu: dict[str, float]  # seconds, all rounds
    stored: int  # events the app stored
    normal: float  # record_event per second, synchronous=NORMAL
    full: float  # ... and =FULL

    def best(self, name: str) -> tuple[float, float, float]:
        """Best of the rounds: the highest throughput, the lowest p50 and p99."""
        rs = self.rounds[name]
        return (max(x.throughput for x in rs), min(x.p50 for x in rs), min(x.p99 for x in rs))


def run(
    duration: float = DURATION,
    rounds: int = ROUNDS,
    maileon_latency_ms: int = MAILEON_LATENCY_MS,
    client: str = "auto",
) -> list[Row]:
    use_wrk = client == "wrk" or (client == "auto" and wrk.available())
    measured = measure_all(duration, rounds, maileon_latency_ms, use_wrk)
    rows = _rows(measured)
    notes = _notes(measured, use_wrk, rounds, duration, maileon_latency_ms)
    print_table("Webhook intake (POST /webhooks/pipedrive) vs bare Starlette endpoint", rows, notes)
    return rows


def measure_all(duration: float, rounds: int, maileon_latency_ms: int, use_wrk: bool) -> Measured:
    """The alternating rounds against the bare endpoint and the installed app, then the
    events the app stored and the cost of synchronous=FULL."""
    results: dict[str, list[Round]] = {name: [] for name in VARIANTS}
    server_cpu = dict.fromkeys(VARIANTS, 0.0)
    with installed_app("intake") as setting:
        app, sims, config, auth = setting.app, setting.sims, setting.config, setting.auth
        work = setting.work
        bare = Server("bench.bare:app", free_port(), setting.env, work / "bare.log").start()
        setting.others.append(bare)
        offset = 0
        for r in range(rounds):
            for name, latency in VARIANTS.items():
                server = bare if name == "bare" else app
                if server is app:
                    sims.ml("POST", "/_sim/latency", json={"ms": latency or maileon_latency_ms})
                cpu = server.cpu_seconds()
                res = measure(server, name, r, work, auth, use_wrk, duration, offset)
                offset += MAX_REQUESTS  # the asyncio client's next requests: new meta.ids
                server_cpu[name] += server.cpu_seconds() - cpu
                if res.non_2xx:
                    raise RuntimeError(f"{name} answered {res.non_2xx} non-2xx; see {work}")
                print(
                    f"  round {r + 1} {name:10}: {res.throughput:6.0f} req/s  "
                    f"p50 {ms(res.p50)}  p99 {ms(res.p99)}",
                    flush=True,
                )
                results[name].append(res)
                if server is app:  # let the worker catch up so no round pays for the last
                    sims.ml("POST", "/_sim/latency", json={"ms": 0})
                    app.wait_idle()
        app.stop()
        with sqlite3.connect(config.database_path) as db:
            stored = db.execute("SELECT count(*) FROM events WHERE source='pipedrive'").fetchone()[
                0
            ]
        normal, full = sqlite_sync_cost(work)
    return Measured(results, server_cpu, stored, normal, full)


def _rows(measured: Measured) -> list[Row]:
    """The app against the bare endpoint: the endpoint alone (with targets), and with the
    worker syncing meanwhile; then synchronous FULL against NORMAL."""
    b_tput, b_p50, b_p99 = measured.best("bare")
    rows = []
    for name, label, target in (
        ("app", "endpoint", True),
        ("app+worker", "worker syncing meanwhile", False),
    ):
        tput, p50, p99 = measured.best(name)
        rows += [
            Row(
                f"intake throughput, {label}",
                f"{tput:.0f} req/s",
                f"{b_tput:.0f} req/s",
                tput / b_tput,
                ">= 0.60" if target else "",
                tput / b_tput >= 0.6 if target else None,
            ),
            Row(
                f"intake p99, {label}",
                ms(p99),
                ms(b_p99),
                p99 / b_p99,
                "<= 2.00" if target else "",
                p99 / b_p99 <= 2.0 if target else None,
            ),
            Row(f"intake p50, {label}", ms(p50), ms(b_p50), p50 / b_p50, "", None),
        ]
    rows.append(
        Row(
            "record_event, synchronous FULL vs NORMAL",
            f"{measured.full:.0f}/s",
            f"{measured.normal:.0f}/s",
            measured.full / measured.normal,
            "",
            None,
        )
    )
    return rows


def _notes(
    measured: Measured, use_wrk: bool, rounds: int, duration: float, maileon_latency_ms: int
) -> list[str]:
    results, stored = measured.rounds, measured.stored
    answered = sum(x.answered for n in ("app", "app+worker") for x in results[n])
    per_req = {
        n: measured.server_cpu[n] / max(1, sum(x.answered for x in results[n])) * 1e3
        for n in VARIANTS
    }
    return [
        machine(),
        ("wrk" if use_wrk else "asyncio client (no wrk, or --client asyncio)")
        + f", {THREADS if use_wrk else 1} thread(s), {CONCURRENCY} keep-alive connections; "
        f"{rounds} rounds of {duration:.0f}s (+{WARMUP:.0f}s warm-up) per variant, alternating "
        "bare / app / app+worker; best round of each (highest throughput, lowest p99)",
        "'endpoint': the simulated Maileon answers after 2 s, so the worker sits on 8 waiting "
        "calls; 'worker syncing meanwhile' (no target): Maileon answers after "
        f"{maileon_latency_ms} ms and the in-process worker syncs the {PERSONS} persons",
        "server CPU per answered request: "
        + ", ".join(f"{n} {v:.2f} ms" for n, v in per_req.items()),
        f"events stored by the app: {stored}; app answers 2xx received (warm-ups included): "
        f"{answered}" + (" - all stored" if stored >= answered else " - MISMATCH: LOST"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--maileon-latency",
        type=int,
        default=MAILEON_LATENCY_MS,
        help="ms the simulated Maileon waits before each answer",
    )
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "asyncio"),
        default="auto",
        help="load generator: wrk when installed (auto), or the asyncio one",
    )
    args = parser.parse_args()
    run(args.duration, args.rounds, args.maileon_latency, args.client)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
