"""The sandbox: the app with simulated Pipedrive and Maileon on loopback, seeded and ready."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from sandbox.maileon_sim import MaileonSim
from sandbox.pipedrive_sim import PipedriveSim
from sandbox.server import ServerThread
from store.crypto import new_key, parse_keys
from web.app import create_app
from web.config import Config

DEMO_MAILEON_KEY = "demo-maileon-key-0001"


def run_demo(port: int, database: str = "") -> int:
    """Without `database`, a temporary one that is removed on exit (Ctrl+C included)."""
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
    # The simulated Pipedrive embeds the panel and the settings: allow it as a frame ancestor
    # (once the app has that setting; until then nothing restricts framing).
    framing: dict[str, Any] = ({"frame_ancestors": pd_server.url}
               if "frame_ancestors" in Config.__dataclass_fields__ else {})
    config = Config(
        client_id=client_id, client_secret=client_secret, app_url=app_url,
        secret_key=secrets.token_urlsafe(32), encryption_keys=parse_keys(new_key()),
        oauth_url=pd_server.url, maileon_api_url=f"{ml_server.url}/1.0",
        database_path=database, port=port, periodic_scale=0.1, **framing)
    keeping = "kept after the demo stops" if kept else \
        "a temporary file, removed when the demo stops"
    print(f"""
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
  Settings later:            {app_url}/settings
     or inside Pipedrive:    {pd_server.url}/ui/settings
  Health:                    {app_url}/healthz
  Database: {database} ({keeping})
Press Ctrl+C to stop.
""", flush=True)
    try:
        uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    finally:
        pd_server.stop()
        ml_server.stop()
    return 0
