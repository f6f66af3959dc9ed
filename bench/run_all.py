"""Run every benchmark of issue 9 one after the other and print a summary.

`.venv/bin/python -m bench.run_all` (about 20 minutes on 2 cores; the wave alone takes 4-6).
`--skip import` leaves out a benchmark. Each one also runs alone: python -m bench.<name>.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bench import (
    coalesce,
    drain,
    import_,
    import_latency,
    intake,
    many_companies,
    panel,
    periodic_wave,
    removal,
    storage,
)
from bench.common import Row, print_table

BENCHMARKS: dict[str, Callable[[], list[Row]]] = {
    "intake": intake.run,
    "coalesce": coalesce.run,  # debounce while draining, fairness across companies
    # at a realistic Maileon round trip, and at 20 ms where the worker's CPU is the limit
    "drain": lambda: drain.run(latency_ms=100) + drain.run(latency_ms=20),
    "panel": panel.run,
    "import": import_.run,
    # issue 29: an operator's scale
    "many": many_companies.run,  # 50 companies x 200 vs 1 x 10,000
    "import50": import_latency.run,  # 1k and 10k at 50 ms
    "removal": lambda: removal.run((1_000,)),  # a rules run removing 1,000 contacts
    "wave": periodic_wave.run,  # intake in the first 90 s after 1,000 installs, ~5 min
    "storage": storage.run,  # the file over a retention cycle vs its live data
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip", action="append", default=[], choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    summary: list[Row] = []
    for name, run in BENCHMARKS.items():
        if name in args.skip:
            continue
        started = time.monotonic()
        print(f"\n### {name}", flush=True)
        rows = run()
        print(f"  ({name} took {time.monotonic() - started:.0f}s)", flush=True)
        summary += [r for r in rows if r.ok is not None]
    print_table("Summary (targets only)", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
