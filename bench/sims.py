"""The simulated Pipedrive and Maileon in their own process, so neither competes for the GIL
with the app under test nor with the load generator.

Prints one JSON line (`pd_url`, `ml_url`, `client_secret`) once both listen on loopback, then
serves until its stdin is closed (the parent exits or calls `Sims.stop()`). With an argument
(`pipedrive` or `maileon`) it runs only that one, so a benchmark where both are busy at once
can give each its own process (`Sims(split=True)`).
"""

from __future__ import annotations

import json
import secrets
import sys

from sandbox.maileon import MaileonSim
from sandbox.pipedrive import PipedriveSim
from sandbox.server import ServerThread

CLIENT_ID = "bench-client"


def main() -> int:
    """`python -m bench.sims [both|pipedrive|maileon]`: which simulators this process runs."""
    which = sys.argv[1] if len(sys.argv) > 1 else "both"
    client_secret = "bench-secret-" + secrets.token_hex(20)
    info: dict[str, str] = {"pd_url": "", "ml_url": "", "client_secret": client_secret}
    servers = []
    if which in ("both", "pipedrive"):
        # time_scale 1: real token lifetimes, so no token refresh happens inside a measurement
        pipedrive = PipedriveSim(
            client_id=CLIENT_ID, client_secret=client_secret, time_scale=1.0, seed_demo=False
        )
        servers.append(ServerThread(pipedrive.app).start())
        pipedrive.base_url = info["pd_url"] = servers[-1].url
    if which in ("both", "maileon"):
        maileon = MaileonSim(time_scale=1.0)
        servers.append(ServerThread(maileon.app).start())
        info["ml_url"] = servers[-1].url
    print(json.dumps(info), flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
