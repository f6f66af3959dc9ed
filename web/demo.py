"""The sandbox: the app with simulated Pipedrive and Maileon on loopback, seeded and ready."""

from __future__ import annotations

import errno
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from appconfig import Config
from sandbox.maileon import MaileonSim
from sandbox.pipedrive import PipedriveSim
from sandbox.server import ServerThread
from store.crypto import new_key, parse_keys
from web.app import create_app

DEMO_MAILEON_KEY = "demo-maileon-key-0001"


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def run_demo(port: int, database: str = "") -> int:
    """Without `database`, a temporary one that is removed on exit (Ctrl+C included)."""
    if not 1 <= port <= 65533:
        print("pipedrive-maileon demo: --port must be between 1 and 65533", file=sys.stderr)
        return 2
    busy = [p for p in (port, port + 1, port + 2) if port_in_use(p)]
    if busy:
        print(
            f"pipedrive-maileon demo: port {busy[0]} is in use (the demo needs {port}, "
            f"{port + 1} and {port + 2}); choose other ports with --port, e.g. --port "
            f"{port + 10}",
            file=sys.stderr,
        )
        return 1
    if database:
        return _run(port, database, kept=True)
    temp_dir = tempfile.mkdtemp(prefix="pm-demo-")
    try:
        return _run(port, str(Path(temp_dir) / "demo.db"), kept=False)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _run(port: int, database: str, kept: bool) -> int:
    client_id, client_secret = "demo-client", secrets.token_urlsafe(24)
    pipedrive = PipedriveSim(client_id=client_id, client_secret=client_secret, seed_demo=True)
    pd_server = ServerThread(pipedrive.app, port=port + 1).start()
    pipedrive.base_url = pd_server.url
    maileon = MaileonSim()
    ml_server = ServerThread(maileon.app, port=port + 2).start()
    app_url = f"http://127.0.0.1:{port}"
    pipedrive.app_url = app_url  # the panel and settings URLs, as registered for the app
    config = Config(
        client_id=client_id,
        client_secret=client_secret,
        app_url=app_url,
        secret_key=secrets.token_urlsafe(32),
        encryption_keys=parse_keys(new_key()),
        oauth_url=pd_server.url,
        maileon_api_url=f"{ml_server.url}/1.0",
        database_path=database,
        port=port,
        periodic_scale=0.1,
        # the simulated Pipedrive is the API domain, and it embeds the panel and the settings
        api_domains=(pd_server.url,),
        frame_ancestors=pd_server.url,
    )
    keeping = (
        "kept after the demo stops" if kept else "a temporary file, removed when the demo stops"
    )
    print(
        f"""
Maileon for Pipedrive — sandbox
  1. Install the app:        {app_url}/oauth/install
     (simulated Pipedrive asks for consent; choose "Ada Admin" and allow)
  2. In the settings, paste the Maileon API key  {DEMO_MAILEON_KEY}
     tick "Contacts sync to Maileon" (and "Deals sync"), then Save.
     "Import existing contacts" brings over the persons the simulator was seeded with.
  3. Add or edit persons and deals; set Newsletter to Subscribed:
                             {pd_server.url}/      (simulated Pipedrive)
     Click a person's name: their page shows the app's Newsletter panel as Pipedrive does
     (subscribe or unsubscribe from there), e.g. {pd_server.url}/ui/persons/1/view
  4. Watch contacts and transactions arrive; confirm a DOI or unsubscribe a contact and
     see the Newsletter field follow:
                             {ml_server.url}/      (simulated Maileon)
  5. Switch faults on and off (an outage, a revoked key or authorization, rate limits,
     latency) and watch the app cope:
                             {ml_server.url}/_sim/controls   (simulated Maileon)
                             {pd_server.url}/_sim/controls   (simulated Pipedrive)
  Settings later:            {app_url}/settings
     or inside Pipedrive:    {pd_server.url}/ui/settings
  Health:                    {app_url}/healthz
  Database: {database} ({keeping})
Press Ctrl+C to stop.
""",
        flush=True,
    )
    try:
        uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    finally:
        pd_server.stop()
        ml_server.stop()
    return 0
