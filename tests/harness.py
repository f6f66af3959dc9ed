"""Test harness: the app and both simulators as real HTTP servers on loopback.

Tests talk to everything over HTTP, like Pipedrive, Maileon and a browser would. Nothing of the
app is mocked.
"""

from __future__ import annotations

import secrets
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jwt

from appconfig import Config
from sandbox.maileon import MaileonSim
from sandbox.pipedrive import PipedriveSim
from sandbox.pipedrive.model import CODE_TTL
from sandbox.server import ServerThread
from store.crypto import new_key, parse_keys
from tests.waiting import wait_until

MAILEON_KEY = "demo-maileon-key-0001"
ADMIN, SALES = 501, 502
COMPANY = 1001


def make_config(
    tmp: Path, pipedrive_url: str, maileon_url: str, app_port: int, **overrides: Any
) -> Config:
    values: dict[str, Any] = dict(
        client_id="test-client",
        client_secret="test-secret-" + secrets.token_hex(20),
        app_url=f"http://127.0.0.1:{app_port}",
        secret_key=secrets.token_urlsafe(32),
        encryption_keys=parse_keys(new_key()),
        oauth_url=pipedrive_url,
        maileon_api_url=f"{maileon_url}/1.0",
        database_path=str(tmp / "app.db"),
        port=app_port,
        backoff_scale=0.01,
        periodic_scale=1.0,
        # the simulated Pipedrive and the browser tests' host page live on loopback
        frame_ancestors="http://127.0.0.1:*",
        api_domains=(pipedrive_url,),
        debounce_seconds=0.02,
        debounce_max_seconds=0.2,
    )  # debounce tests set their own
    values.update(overrides)
    return Config(**values)


@dataclass
class Harness:
    pipedrive: PipedriveSim
    maileon: MaileonSim
    pd_url: str
    ml_url: str
    app_url: str
    config: Config
    app_server: ServerThread
    # One client for the test's own calls to the simulators and /healthz (settle() polls them):
    # a client per call costs its SSL context (~1 ms of CPU). No keep-alive, so a call never
    # meets a connection the server is closing (a restarted app, uvicorn's idle timeout).
    http: httpx.Client = field(
        default_factory=lambda: httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
    )

    # --- browser-like helpers -------------------------------------------------------------
    def browser(self) -> httpx.Client:
        return httpx.Client(timeout=20, follow_redirects=False)

    def install(self, user_id: int = ADMIN, client: httpx.Client | None = None) -> httpx.Client:
        """Run the OAuth install as a browser: install URL → consent → callback → settings."""
        client = client or self.browser()
        r = client.get(f"{self.app_url}/oauth/install")
        assert r.status_code == 302, r.text
        authorize = r.headers["location"]
        consent = client.get(authorize)
        assert consent.status_code == 200, consent.text
        params = dict(httpx.URL(authorize).params)
        r = client.post(
            f"{self.pd_url}/oauth/authorize",
            data={**params, "user_id": str(user_id), "action": "allow"},
        )
        assert r.status_code in (302, 303), r.text
        callback = r.headers["location"]
        r = client.get(callback)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/settings"
        return client

    def save_settings(self, client: httpx.Client, **form: Any) -> httpx.Response:
        data = {"initial_permission": "2", "doi_mailing_key": "", "maileon_api_key": ""}
        for key, value in form.items():
            if isinstance(value, bool):
                if value:
                    data[key] = "1"
            else:
                data[key] = str(value)
        return client.post(f"{self.app_url}/settings", data=data, headers={"Origin": self.app_url})

    def setup_company(self, **form: Any) -> httpx.Client:
        client = self.install()
        form.setdefault("maileon_api_key", MAILEON_KEY)
        form.setdefault("contacts_sync", True)
        r = self.save_settings(client, **form)
        assert r.status_code == 200 and "Settings saved" in r.text, r.text
        return client

    # --- simulators ------------------------------------------------------------------------
    def pd(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, f"{self.pd_url}{path}", timeout=30, **kw)
        assert r.status_code < 400, (path, r.status_code, r.text)
        return r.json() if r.content else None

    def ml(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, f"{self.ml_url}{path}", timeout=30, **kw)
        assert r.status_code < 400, (path, r.status_code, r.text)
        return r.json() if r.content else None

    def create_person(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("company_id", COMPANY)
        return self.pd("POST", "/_sim/persons", json=fields)  # type: ignore[no-any-return]

    def contacts(self) -> dict[str, dict[str, Any]]:
        state = self.ml("GET", "/_sim/state")
        return {c["email"]: c for c in state["contacts"] if c.get("email")}

    def newsletter_field(self) -> tuple[str, dict[str, int]]:
        """The Newsletter field's key and its option ids by label, as Pipedrive shows them."""
        field = next(
            f
            for f in self.pd("GET", "/_sim/state")["person_fields"]
            if f["name"] == "Newsletter" and f.get("company_id", COMPANY) == COMPANY
        )
        return field["key"], {o["label"]: o["id"] for o in field["options"]}

    def newsletter_of(self, person_id: int) -> str:
        """The label the person's Newsletter field shows in Pipedrive ('' when empty)."""
        key, options = self.newsletter_field()
        labels = {v: k for k, v in options.items()}
        person = next(p for p in self.pd("GET", "/_sim/state")["persons"] if p["id"] == person_id)
        value = person["custom_fields"].get(key)
        if isinstance(value, dict):  # a typed form, should the simulator ever show one
            value = value.get("id")
        return labels.get(value, "")

    def sign_token(
        self,
        user_id: int = ADMIN,
        company_id: int = COMPANY,
        ttl: int = 300,
        secret: str | None = None,
    ) -> str:
        """A Pipedrive custom-UI JWT as Pipedrive signs it (HS256, iat/exp)."""
        issued = int(time.time())
        return jwt.encode(
            {"userId": user_id, "companyId": company_id, "iat": issued, "exp": issued + ttl},
            secret or self.config.client_secret,
            algorithm="HS256",
        )

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Read the app's database directly (what it stored, not what it answered)."""
        conn = sqlite3.connect(self.config.database_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def queue_depth(self) -> int:
        r = self.http.get(f"{self.app_url}/healthz", timeout=10)
        return int(r.json()["queue_depth"])

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until simulators delivered everything and the app's queue is empty, twice in a
        row (a job that ends may queue the next one)."""
        quiet_rounds = 0

        def drained() -> bool:
            nonlocal quiet_rounds
            self.pd("POST", "/_sim/idle?timeout=5")
            self.ml("POST", "/_sim/idle?timeout=5")
            quiet_rounds = quiet_rounds + 1 if self.queue_depth() == 0 else 0
            return quiet_rounds >= 2

        wait_until(drained, timeout, 0.02, "simulators idle and the app's queue empty")


def contact_writes(harness: Harness) -> list[tuple[str, list[str]]]:
    """The contact writes Maileon accepted, in order, each with the addresses it carried: one
    for `PUT|POST /contacts/email/{email}`, all of a synchronize batch for `POST /contacts`.
    (An update answered 404, the probe before a single create, wrote nothing.)"""
    out = []
    for r in harness.ml("GET", "/_sim/state")["requests"]:
        if r["method"] not in ("POST", "PUT") or not 200 <= r["status"] < 300:
            continue
        if "/contacts/email/" in r["path"]:
            out.append((r["method"], [unquote(r["path"].rsplit("/", 1)[1])]))
        elif r["path"].endswith("/1.0/contacts"):
            out.append(("SYNC", list(r.get("emails", []))))
    return out


def writes_of(harness: Harness, email: str) -> list[str]:
    """How each accepted write reached this address: PUT, POST or SYNC (a batch)."""
    return [method for method, emails in contact_writes(harness) if email in emails]


def bound_socket() -> socket.socket:
    # IPPROTO_TCP given, or asyncio does not set TCP_NODELAY on the accepted connections
    # (Nagle's algorithm then costs ~40 ms a request)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # as uvicorn's own sockets: a test that restarts the app binds the same port again
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class BoundServer(ServerThread):
    """A `ServerThread` on a socket bound before it starts (by default a new one): no other
    process (other suites run on this machine too) can take its port between `free_port()`
    choosing it and uvicorn binding it."""

    def __init__(self, app: Any, sock: socket.socket | None = None) -> None:
        sock = sock or bound_socket()
        super().__init__(app, port=int(sock.getsockname()[1]))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )


def start_simulators(
    time_scale: float = 0.01,
) -> tuple[PipedriveSim, ServerThread, MaileonSim, ServerThread, str]:
    client_secret = "test-secret-" + secrets.token_hex(20)
    pipedrive = PipedriveSim(
        client_id="test-client", client_secret=client_secret, time_scale=time_scale, seed_demo=False
    )
    # a consent's code waits for the app's callback, which a test's time scale does not speed
    # up: scaled to 3 s, a busy app process under the CI's load let it expire (an install
    # failed once in nine clean-clone runs)
    pipedrive.core.code_ttl = CODE_TTL
    pd_server = BoundServer(pipedrive.app).start()
    pipedrive.base_url = pd_server.url
    maileon = MaileonSim(time_scale=time_scale)
    ml_server = BoundServer(maileon.app).start()
    return pipedrive, pd_server, maileon, ml_server, client_secret
