"""The simulated Pipedrive and Maileon in their own process, so neither competes for the GIL
with the app under test nor with the load generator.

Prints one JSON line (`pd_url`, `ml_url`, `client_secret`) once both listen on loopback, then
serves until its stdin is closed (the parent exits or calls `Sims.stop()`).
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
    client_secret = "bench-secret-" + secrets.token_hex(20)
    # time_scale 1: real token lifetimes, so no token refresh happens inside a measurement
    pipedrive = PipedriveSim(
        client_id=CLIENT_ID, client_secret=client_secret, time_scale=1.0, seed_demo=False
    )
    pd_server = ServerThread(pipedrive.app).start()
    pipedrive.base_url = pd_server.url
    maileon = MaileonSim(time_scale=1.0)
    ml_server = ServerThread(maileon.app).start()
    print(
        json.dumps(
            {"pd_url": pd_server.url, "ml_url": ml_server.url, "client_secret": client_secret}
        ),
        flush=True,
    )
    sys.stdin.read()  # until the parent closes the pipe
    pd_server.stop()
    ml_server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
