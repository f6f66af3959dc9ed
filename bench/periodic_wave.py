"""Webhook intake in the first 90 s after 1,000 installs, against the steady state of one
company, in one run (issue 29, item 4).

Two apps on the same simulators (each its own uvicorn process and SQLite file), Pipedrive and
Maileon both answering after LATENCY_MS:

* **steady**: company 1001 installed through the real flow (the baseline: its periodic work is
  spread and tiny); measured in rounds before the wave and once more after it;
* **wave**: COMPANIES companies installed at once (seeded: bench/seeding.py says how and why),
  then the app starts; after the same 2 s warm-up as the steady app the window opens.

Load: `wrk` (2 threads, 16 connections, bench/wrk.py), person v2 `change` webhooks of one company
with the Basic credentials the app registered in Pipedrive, as bench/intake.py sends them; the
in-process worker syncs the persons and runs the periodic work meanwhile, as in production.

Targets (issue 29): over the window, intake throughput >= 0.8 x steady state and p99 <= 2 x
steady state. Each side's p99 is the worst of its rounds (wrk's percentiles do not merge).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench import wrk
from bench.common import (
    Round,
    Row,
    Server,
    installed_app,
    machine,
    ms,
    new_app,
    print_table,
)
from bench.seeding import seed
from tests.harness import COMPANY

COMPANIES = 1000
WINDOW = 90.0
ROUND = 10.0
STEADY_ROUNDS = 2  # before the wave; one more after it
LATENCY_MS = 50
THREADS, CONNECTIONS, PERSONS = 2, 16, 200


def rounds(
    server: Server, work: Path, tag: str, auth: str, company: int, count: int, seconds: float
) -> list[Round]:
    out = []
    for n in range(count):
        script = wrk.write_script(work / f"{tag}{n}.lua", auth, f"{tag}{n}", PERSONS, company)
        res = wrk.run(server.url + "/", script, THREADS, CONNECTIONS, seconds)
        if res.non_2xx:
            raise RuntimeError(f"{tag}: {res.non_2xx} non-2xx answers; see {work}")
        print(
            f"  {tag} round {n + 1}: {res.throughput:6.0f} req/s  p50 {ms(res.p50)}  "
            f"p99 {ms(res.p99)}  (load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        out.append(res)
    return out


def _overall(rs: list[Round], seconds: float) -> tuple[float, float, float]:
    """(throughput over all rounds, worst p50, worst p99)."""
    total = sum(r.throughput * seconds for r in rs)
    return total / (seconds * len(rs)), max(r.p50 for r in rs), max(r.p99 for r in rs)


def run(
    companies: int = COMPANIES,
    window: float = WINDOW,
    latency_ms: int = LATENCY_MS,
    round_seconds: float = ROUND,
) -> list[Row]:
    if not wrk.available():
        raise RuntimeError("this benchmark needs wrk (apt-get install wrk)")
    load_at_start = machine()
    with installed_app("wave", split_sims=True) as setting:
        sims, steady, work = setting.sims, setting.app, setting.work
        for api in (sims.pd, sims.ml):
            api("POST", "/_sim/latency", json={"ms": latency_ms})
        rounds(steady, work, "warm", setting.auth, COMPANY, 1, 2)
        before = rounds(steady, work, "steady", setting.auth, COMPANY, STEADY_ROUNDS, round_seconds)

        for api in (sims.pd, sims.ml):  # the installs themselves are not measured
            api("POST", "/_sim/latency", json={"ms": 0})
        (work / "wave").mkdir()
        config, env, port = new_app(work / "wave", sims)
        started = time.monotonic()
        company, auth = seed(setting, config, companies)[0]
        seeded = time.monotonic() - started
        for api in (sims.pd, sims.ml):
            api("POST", "/_sim/latency", json={"ms": latency_ms})

        wave = Server("web.app:app", port, env, work / "wave.log")
        setting.others.append(wave)
        wave.start(timeout=120)
        rounds(wave, work, "wave-warm", auth, company, 1, 2)  # as the steady app's warm-up
        cpu = wave.cpu_seconds()
        count = max(1, round(window / round_seconds))
        during = rounds(wave, work, "wave", auth, company, count, round_seconds)
        wave_cpu = (wave.cpu_seconds() - cpu) / (count * round_seconds)
        wave.stop()
        cpu = steady.cpu_seconds()
        after = rounds(steady, work, "steady-after", setting.auth, COMPANY, 1, round_seconds)
        steady_cpu = (steady.cpu_seconds() - cpu) / round_seconds

    s_tput, s_p50, s_p99 = _overall(before + after, round_seconds)
    w_tput, w_p50, w_p99 = _overall(during, round_seconds)
    worst = min(r.throughput for r in during)
    rows = [
        Row(
            f"intake throughput, first {window:.0f} s after {companies} installs",
            f"{w_tput:.0f} req/s",
            f"{s_tput:.0f} req/s",
            w_tput / s_tput,
            ">= 0.80",
            w_tput / s_tput >= 0.8,
        ),
        Row(
            "intake p99, worst round of the window",
            ms(w_p99),
            ms(s_p99),
            w_p99 / s_p99,
            "<= 2.00",
            w_p99 / s_p99 <= 2.0,
        ),
        Row("intake p50, worst round", ms(w_p50), ms(s_p50), w_p50 / s_p50, "", None),
        Row(
            "intake throughput, worst round of the window",
            f"{worst:.0f} req/s",
            f"{s_tput:.0f} req/s",
            worst / s_tput,
            "",
            None,
        ),
    ]
    notes = [
        load_at_start,
        f"Pipedrive and Maileon answer after {latency_ms} ms; wrk {THREADS} threads, "
        f"{CONNECTIONS} connections; rounds of {round_seconds:.0f} s: steady (1 company) "
        f"{STEADY_ROUNDS} before and 1 after the wave, the wave {count} from 2 s after the "
        "app's start (each app gets the same 2 s warm-up)",
        f"{companies} installs seeded in {seeded:.0f} s (see the module doc for what is real)",
        f"app CPU, share of a core: wave window {wave_cpu:.2f}, steady round {steady_cpu:.2f}",
        f"load average at the end {os.getloadavg()[0]:.2f}",
    ]
    print_table(f"Intake in the first {window:.0f} s after {companies} installs", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=COMPANIES)
    parser.add_argument("--window", type=float, default=WINDOW, help="seconds measured")
    parser.add_argument("--round", type=float, default=ROUND, help="seconds per wrk round")
    parser.add_argument("--latency", type=int, default=LATENCY_MS, help="both APIs, ms")
    args = parser.parse_args()
    run(args.companies, args.window, args.latency, args.round)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
