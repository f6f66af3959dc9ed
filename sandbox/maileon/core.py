"""The simulator's state: accounts, API keys, id counters, templates."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import jinja2
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from sandbox.faults import Faults
from sandbox.maileon.model import ALL_METHODS, DEFAULT_ACCOUNT, DEFAULT_KEY, Account
from sandbox.maileon.xmlio import error_xml


@dataclass
class ApiKey:
    key: str
    account: str
    methods: set[str]


class SimCore:
    """What every part of the simulator shares: accounts, keys, id counters, background tasks."""

    def __init__(
        self, *, api_keys: dict[str, set[str]] | None = None, time_scale: float = 1.0
    ) -> None:
        self.time_scale = time_scale
        self.faults = Faults()
        self.keys: dict[str, ApiKey] = {}
        self.revoked_keys: dict[str, ApiKey] = {}  # the control page can restore them
        self.accounts: dict[str, Account] = {}
        self._ids: dict[str, int] = {}
        self.inflight = 0
        self.tasks: set[asyncio.Task[None]] = set()
        # webhook deliveries share one client (made on the server's loop, closed with it)
        self.client: httpx.AsyncClient | None = None
        # the element naming a refused contact in a synchronize report: the sources differ
        # (derived example `invalid_contact`, the .NET client `contact`; the Java client reads
        # any child of `invalid_contacts`), so tests choose (`/_sim/report_shape`)
        self.invalid_contact_tag = "invalid_contact"
        self.name_invalid_contacts = True
        self.account(DEFAULT_ACCOUNT)
        default = api_keys if api_keys is not None else {DEFAULT_KEY: set(ALL_METHODS)}
        for key, methods in default.items():
            self.add_key(key, DEFAULT_ACCOUNT, methods)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "templates"),
            autoescape=True,
        )
        self.templates = Jinja2Templates(env=env)

    # -- bookkeeping ------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        start = {"contact": 1000, "newsletter_account": 100}.get(kind, 0)
        self._ids[kind] = self._ids.get(kind, start) + 1
        return self._ids[kind]

    def account(self, name: str) -> Account:
        if name not in self.accounts:
            self.accounts[name] = Account(name, self.next_id("newsletter_account"))
        return self.accounts[name]

    def add_key(self, key: str, account: str, methods: Iterable[str]) -> None:
        self.account(account)
        self.keys[key] = ApiKey(key, account, {m.upper() for m in methods})

    def authenticate(self, scope: Scope) -> tuple[Account | None, Response | None]:
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return None, error_xml(401, "missing API key (HTTP Basic authorization required)")
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, error_xml(401, "invalid authorization header")
        key = self.keys.get(decoded)
        if key is None and decoded.endswith(":"):
            key = self.keys.get(decoded[:-1])
        if key is None:
            return None, error_xml(401, "invalid, expired or revoked API key")
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        if method in ALL_METHODS and method not in key.methods:
            return None, error_xml(403, f"API key lacks the privilege for {method}")
        return self.accounts[key.account], None
