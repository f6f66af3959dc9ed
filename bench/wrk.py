"""Load from `wrk` (the Debian package: a C load generator that does not saturate before the
server does), with a Lua script that sends person v2 `change` webhooks with distinct meta.id.

Both the app and the bare baseline get the same script, so the same request shapes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from bench.common import Round

# The Lua side builds each body from the pieces of one template, so the requests differ only in
# meta.id, the person (one of `persons`), the name and update_time.
SCRIPT = """
local counter = 0
local thread_no = 0
local threads = {}
local auth = %(auth)s
local round = %(round)s
local persons = %(persons)d
local base = %(base)d

function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local pid = 10000 + (counter * 7 + tid) %% persons
  local stamp = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", base + counter)
  local body = '{"data":{"id":' .. pid .. ',"name":"Bench Person' .. counter ..
    '","first_name":"Bench","last_name":"Person' .. counter ..
    '","emails":[{"value":"p' .. pid .. '@bench.test","primary":true,"label":"work"}],' ..
    '"phones":[],"org_id":null,"owner_id":501,"visible_to":"3",' ..
    '"add_time":"2026-11-27T09:00:00Z","update_time":"' .. stamp ..
    '","custom_fields":{},"label":null},"previous":{"name":"Bench Person' .. (counter - 1) ..
    '"},"meta":{"action":"change","entity":"person","company_id":"%(company)s",' ..
    '"entity_id":"' .. pid .. '","id":"' .. round .. '-' .. tid .. '-' .. counter ..
    '","timestamp":"' .. stamp .. '","type":"application","user_id":"501",' ..
    '"version":"2.0","webhook_id":"1","attempt":1,"change_source":"app"}}'
  return wrk.format("POST", "/webhooks/pipedrive",
    {["Content-Type"] = "application/json", ["Authorization"] = auth}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '\\nWRK_RESULT {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def write_script(path: Path, auth: str, round_id: str, persons: int, company: int) -> Path:
    path.write_text(
        SCRIPT
        % {
            "auth": json.dumps(auth),
            "round": json.dumps(round_id),
            "persons": persons,
            "base": 1_795_770_000,
            "company": company,
        }
    )
    return path


def run(url: str, script: Path, threads: int, connections: int, seconds: float) -> Round:
    """One wrk run: throughput, and p50/p99 from wrk's own histogram. wrk counts only the
    answers received before its end."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_RESULT "))
    data = json.loads(line.removeprefix("WRK_RESULT "))
    if data["errors"]:
        raise RuntimeError(f"wrk saw socket errors: {data}\n{out}")
    return Round(
        throughput=data["requests"] / (data["duration_us"] / 1e6),
        p50=data["p50_us"] / 1e6,
        p99=data["p99_us"] / 1e6,
        answered=data["requests"],
        non_2xx=data["non2xx"],
    )
