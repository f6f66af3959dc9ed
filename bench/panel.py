"""Newsletter panel (F11) render time vs one Maileon lookup.

The company is installed through the real flow; one person with an email address is created in
the simulated Pipedrive and synced to the simulated Maileon by the app (webhook -> worker). The
simulated Maileon then answers after LATENCY_MS. Timed, sequentially, from this process:

* baseline: one Maileon contact lookup (GET /1.0/contacts/email/{email}, the call the panel
  makes), straight to the simulated Maileon;
* the panel's status (GET /panel/status with the Pipedrive JWT in X-Pipedrive-Token, as HTMX
  sends it): JWT check, the person read from Pipedrive with the viewer's token, the Maileon
  lookup, the template; the number the user waits for.

Target (issue 9): panel status <= 1.2 x one Maileon lookup (medians). Also shown, without target:
the shell (GET /panel, no outside calls) and the status when Pipedrive has the same latency as
Maileon (the two calls are sequential: the Maileon lookup needs the email Pipedrive returns).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from urllib.parse import quote

import httpx
import jwt

from bench.common import Row, installed_app, machine, ms
from bench.common import print_table as show
from tests.harness import ADMIN, COMPANY, MAILEON_KEY

LATENCY_MS = 50
SAMPLES = 30


def timed(
    client: httpx.Client, url: str, headers: dict[str, str], samples: int, expect: str = ""
) -> list[float]:
    out = []
    for _ in range(samples + 2):  # the first two warm connections and caches
        started = time.perf_counter()
        r = client.get(url, headers=headers)
        out.append(time.perf_counter() - started)
        if r.status_code != 200 or (expect and expect not in r.text):
            raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")
    return out[2:]


def run(latency_ms: int = LATENCY_MS, samples: int = SAMPLES) -> list[Row]:
    with installed_app("panel") as setting:
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
        t = int(time.time())
        token = jwt.encode(
            {"companyId": COMPANY, "userId": ADMIN, "iat": t, "exp": t + 3600},
            config.client_secret,
            algorithm="HS256",
        )
        pid = person["id"]
        status_url = f"{app.url}/panel/status?selectedIds={pid}"
        status_headers = {"X-Pipedrive-Token": token, "HX-Request": "true"}
        shell_url = (
            f"{app.url}/panel?resource=person&view=details&selectedIds={pid}"
            f"&id=bench&theme=light&userId={ADMIN}&companyId={COMPANY}&token={token}"
        )
        lookup_url = f"{sims.ml_url}/1.0/contacts/email/{quote(email, safe='')}"
        lookup_headers = {
            "Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode(),
            "Accept": "application/vnd.maileon.api+xml",
        }

        sims.ml("POST", "/_sim/latency", json={"ms": latency_ms})
        with httpx.Client(timeout=30) as client:
            lookup = timed(client, lookup_url, lookup_headers, samples)
            status = timed(client, status_url, status_headers, samples, expect=email)
            shell = timed(client, shell_url, {}, samples)
            sims.pd("POST", "/_sim/latency", json={"ms": latency_ms})
            both = timed(client, status_url, status_headers, samples, expect=email)
        sims.pd("POST", "/_sim/latency", json={"ms": 0})
        sims.ml("POST", "/_sim/latency", json={"ms": 0})

    base = statistics.median(lookup)
    med = {
        name: statistics.median(v)
        for name, v in (("status", status), ("shell", shell), ("both", both))
    }
    ratio = med["status"] / base
    rows = [
        Row(
            "panel status vs one Maileon lookup",
            ms(med["status"]),
            ms(base),
            ratio,
            "<= 1.20",
            ratio <= 1.2,
        ),
        Row(
            "panel shell (GET /panel, no outside call)",
            ms(med["shell"]),
            ms(base),
            med["shell"] / base,
            "",
            None,
        ),
        Row(
            f"panel status, Pipedrive also {latency_ms} ms",
            ms(med["both"]),
            ms(base),
            med["both"] / base,
            "",
            None,
        ),
    ]
    notes = [
        machine(),
        f"medians of {samples} sequential requests each (after 2 warm-up requests); Maileon "
        f"answers after {latency_ms} ms; Pipedrive after 0 ms unless stated",
        f"p90: lookup {ms(sorted(lookup)[int(0.9 * samples)])}, status "
        f"{ms(sorted(status)[int(0.9 * samples)])}",
    ]
    show("Newsletter panel render vs one Maileon lookup", rows, notes)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=LATENCY_MS, help="Maileon latency, ms")
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args()
    run(args.latency, args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
