"""Configuration from the environment (and an optional `.env` file).

`serve` refuses to start on missing or malformed values with one line naming every one;
`demo` builds its own throwaway configuration.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from store.crypto import parse_keys

T = TypeVar("T")
NO_KEYS: tuple[bytes, ...] = ()
NO_ORIGINS: tuple[str, ...] = ()

PIPEDRIVE_ORIGINS = "https://*.pipedrive.com"
PIPEDRIVE_OAUTH = "https://oauth.pipedrive.com"
MAILEON_API = "https://api.maileon.com/1.0"


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Config:
    client_id: str
    client_secret: str
    app_url: str
    secret_key: str
    encryption_keys: tuple[bytes, ...]
    jwt_secret: str = ""
    oauth_url: str = "https://oauth.pipedrive.com"
    maileon_api_url: str = "https://api.maileon.com/1.0"
    database_path: str = "data/app.db"
    port: int = 8000
    worker_concurrency: int = 8
    backoff_scale: float = 1.0
    periodic_scale: float = 1.0
    log_json: bool = False
    # Issue #13: who may frame /settings and /panel (a CSP source list), and where a token
    # response's api_domain may point. Pipedrive's by default; the sandbox and tests name
    # their simulated Pipedrive.
    frame_ancestors: str = PIPEDRIVE_ORIGINS
    api_domains: tuple[str, ...] = (PIPEDRIVE_ORIGINS,)
    retention_days: float = 14.0
    # Debounce of webhook changes: a job is due this long after the entity's latest change,
    # at most debounce_max_seconds after its first waiting change.
    debounce_seconds: float = 1.0
    debounce_max_seconds: float = 10.0
    # Issue #23: the addresses whose X-Forwarded-For/-Proto the app believes (the HTTPS
    # proxy in front of it): comma-separated IPs or networks, or `*` when nothing but the
    # platform's router can reach the app.
    trusted_proxies: str = "127.0.0.1"
    # Issue #23: bytes of changes one company may have waiting; beyond, its Pipedrive
    # webhooks are answered 503 (Pipedrive tries again; the sweep catches what it gives up).
    queue_limit_bytes: int = 50 * 1024 * 1024
    # Issue #23: OAuth code exchanges one client address may make in 10 minutes, and all
    # clients together in a minute (web/oauth_throttle.py).
    oauth_exchanges_per_client: int = 10
    oauth_exchanges_per_minute: int = 30
    # How long a deal transaction's call waits for Maileon's answer (issue 27: Maileon may
    # apply a transaction and answer after 20 s); other calls wait http_timeout.
    transaction_timeout: float = 60.0
    # How long any other call waits for an answer (clients/http.py); the tests of timeouts
    # shorten it, so they need not wait out 20 s.
    http_timeout: float = 20.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def panel_jwt_secret(self) -> str:
        return self.jwt_secret or self.client_secret

    @property
    def callback_url(self) -> str:
        return f"{self.app_url}/oauth/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.app_url.startswith("https://")

    def api_domain_allowed(self, url: str) -> bool:
        """A token response's api_domain is where the app sends the access token: only a bare
        origin matching one of `api_domains` (`https://*.example.com` or an exact origin)."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            return False
        if (
            parts.username
            or parts.password
            or parts.query
            or parts.fragment
            or parts.path not in ("", "/")
            or not host
        ):
            return False
        for allowed in self.api_domains:
            want = urlsplit(allowed)
            if want.scheme != parts.scheme:
                continue
            if want.netloc.startswith("*."):
                if (
                    port is None
                    and host.endswith(want.netloc[1:])
                    and len(host) > len(want.netloc) - 1
                ):
                    return True
            elif want.netloc == parts.netloc:
                return True
        return False


def check_encryption_key(config: Config) -> None:
    """Open the database (creating it) and verify that ENCRYPTION_KEY reads its secrets;
    ConfigError naming ENCRYPTION_KEY otherwise. For every command that runs the app."""
    from store.crypto import SecretBox
    from store.db import Store
    from store.keycheck import KeyCheckFailed, ensure

    store = Store(config.database_path, SecretBox(config.encryption_keys))
    try:
        ensure(store)
    except KeyCheckFailed:
        raise ConfigError(
            f"ENCRYPTION_KEY cannot read the secrets in {config.database_path} "
            "(none of the configured keys is the one they were encrypted "
            "with)"
        ) from None
    finally:
        store.close()


def load_dotenv(path: str = ".env") -> None:
    """Fill os.environ from a simple KEY=VALUE file without overriding real variables."""
    env_file = Path(path)
    if not env_file.is_file():
        return
    for raw in env_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


def _required(env: dict[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required but not set")
    return value


def _url(env: dict[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip() or default
    if not value:
        raise ConfigError(f"{name} is required but not set")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _number(env: dict[str, str], name: str, default: float, kind: type = int) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(kind(raw))
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _origins(env: dict[str, str], name: str, default: str) -> tuple[str, ...]:
    """Comma-separated origins, each `scheme://host[:port]` where the host may be `*.domain`."""
    values = tuple(v.strip().rstrip("/") for v in (env.get(name, "") or default).split(","))
    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ConfigError(f"{name} must be comma-separated http(s) origins, got {value!r}")
    return values


class _Problems:
    """Every missing or malformed variable, so one start names them all (not one per run)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, read: Callable[[], T], fallback: T) -> T:
        try:
            return read()
        except ConfigError as exc:
            self.found.append(str(exc))
            return fallback

    def add(self, problem: str) -> None:
        self.found.append(problem)


def _keys(env: dict[str, str]) -> tuple[bytes, ...]:
    try:
        return parse_keys(_required(env, "ENCRYPTION_KEY"))
    except ValueError as exc:
        raise ConfigError(f"ENCRYPTION_KEY is malformed: {exc}") from None


def from_env(env: dict[str, str] | None = None) -> Config:
    """The configuration; a ConfigError names every missing or malformed variable at once."""
    env = dict(os.environ if env is None else env)
    p = _Problems()
    client_id = p.check(lambda: _required(env, "PIPEDRIVE_CLIENT_ID"), "")
    client_secret = p.check(lambda: _required(env, "PIPEDRIVE_CLIENT_SECRET"), "")
    app_url = p.check(lambda: _url(env, "APP_URL"), "")
    secret_key = p.check(lambda: _required(env, "SECRET_KEY"), "")
    if secret_key and len(secret_key) < 32:
        p.add("SECRET_KEY must be at least 32 characters")
    keys = p.check(lambda: _keys(env), NO_KEYS)
    port = int(p.check(lambda: _number(env, "PORT", 8000), 8000.0))
    if port > 65535:
        p.add(f"PORT must be at most 65535, got {port}")
    window, longest = p.check(lambda: _debounce(env), (1.0, 10.0))
    oauth_url = p.check(lambda: _url(env, "PIPEDRIVE_OAUTH_URL", PIPEDRIVE_OAUTH), "")
    maileon_api_url = p.check(lambda: _url(env, "MAILEON_API_URL", MAILEON_API), "")
    concurrency = p.check(lambda: _number(env, "WORKER_CONCURRENCY", 8), 8.0)
    backoff_scale = p.check(lambda: _number(env, "BACKOFF_SCALE", 1.0, float), 1.0)
    periodic_scale = p.check(lambda: _number(env, "PERIODIC_SCALE", 1.0, float), 1.0)
    ancestors = p.check(lambda: _origins(env, "FRAME_ANCESTORS", PIPEDRIVE_ORIGINS), NO_ORIGINS)
    api_domains = p.check(
        lambda: _origins(env, "PIPEDRIVE_API_DOMAINS", PIPEDRIVE_ORIGINS), NO_ORIGINS
    )
    retention_days = p.check(lambda: _number(env, "RETENTION_DAYS", 14.0, float), 14.0)
    per_client = p.check(lambda: _number(env, "OAUTH_EXCHANGES_PER_CLIENT", 10), 10.0)
    per_minute = p.check(lambda: _number(env, "OAUTH_EXCHANGES_PER_MINUTE", 30), 30.0)
    if p.found:
        raise ConfigError("; ".join(p.found))
    return Config(
        client_id=client_id,
        client_secret=client_secret,
        app_url=app_url,
        secret_key=secret_key,
        encryption_keys=keys,
        jwt_secret=env.get("PIPEDRIVE_JWT_SECRET", "").strip(),
        oauth_url=oauth_url,
        maileon_api_url=maileon_api_url,
        database_path=env.get("DATABASE_PATH", "").strip() or "data/app.db",
        port=port,
        worker_concurrency=int(concurrency),
        backoff_scale=float(backoff_scale),
        periodic_scale=float(periodic_scale),
        log_json=env.get("LOG_FORMAT", "").strip().lower() == "json",
        frame_ancestors=" ".join(ancestors),
        api_domains=api_domains,
        retention_days=float(retention_days),
        debounce_seconds=window,
        debounce_max_seconds=longest,
        trusted_proxies=_proxies(env, "TRUSTED_PROXIES", "127.0.0.1"),
        queue_limit_bytes=int(_number(env, "COMPANY_QUEUE_LIMIT_MB", 50, float) * 1024 * 1024),
        transaction_timeout=float(_number(env, "MAILEON_TRANSACTION_TIMEOUT_SECONDS", 60.0, float)),
        oauth_exchanges_per_client=int(per_client),
        oauth_exchanges_per_minute=int(per_minute),
    )


def _proxies(env: dict[str, str], name: str, default: str) -> str:
    """`*`, or comma-separated IP addresses and networks (`10.0.0.0/8`)."""
    value = env.get(name, "").strip() or default
    if value == "*":
        return value
    parts = [p.strip() for p in value.split(",")]
    for part in parts:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must be `*` or comma-separated IP addresses or networks, got {part!r}"
            ) from None
    return ",".join(parts)


def _debounce(env: dict[str, str]) -> tuple[float, float]:
    """SYNC_DEBOUNCE_SECONDS and SYNC_DEBOUNCE_MAX_SECONDS (never less than the window)."""
    window = float(_number(env, "SYNC_DEBOUNCE_SECONDS", 1.0, float))
    longest = float(_number(env, "SYNC_DEBOUNCE_MAX_SECONDS", max(10.0, window), float))
    if longest < window:
        raise ConfigError("SYNC_DEBOUNCE_MAX_SECONDS must not be less than SYNC_DEBOUNCE_SECONDS")
    return window, longest
