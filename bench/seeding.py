"""Companies installed at once for the benchmarks of an operator's scale (issue 29).

The app's install flow throttles code exchanges (`web/oauth_throttle.py`: 30 a minute), so a
thousand installs through it would take half an hour. A seeded company gets what an install
gives it, from the same code: its own company and admin in the simulated Pipedrive and its own
account and API key in the simulated Maileon; the app's OAuth client exchanges the admin's
consent code at the simulated Pipedrive's token endpoint; the installation and the settings
(Maileon key, contacts sync on) are written with the store functions the OAuth callback and the
settings page use; then `sync.configure.configure`, what a settings save runs, creates the
Newsletter field, Maileon's custom fields, the Pipedrive and Maileon webhooks and queues the
company's periodic jobs. Skipped: the browser's round trips and the Maileon key check.
"""

from __future__ import annotations

import asyncio
import base64
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from appconfig import Config
from bench.common import Installed

FIRST_COMPANY, FIRST_ADMIN = 20_001, 40_001
SEED_CONCURRENCY = 16


def _oauth_tokens(
    http: httpx.Client, setting: Installed, admin: int, redirect_uri: str
) -> dict[str, Any]:
    """The admin's consent and the code exchange at the simulated Pipedrive, with the app's
    client credentials (what the callback does)."""
    pd, cfg = setting.sims.pd_url, setting.config
    r = http.post(
        f"{pd}/oauth/authorize",
        data={
            "client_id": cfg.client_id,
            "redirect_uri": redirect_uri,
            "action": "allow",
            "user_id": str(admin),
        },
    )
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    r = http.post(
        f"{pd}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(cfg.client_id, cfg.client_secret),
    )
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def seed(setting: Installed, config: Config, companies: int) -> list[tuple[int, str]]:
    """`companies` installed companies in the database of `config` (its app not running), on
    the simulators of `setting`; (company id, webhook Basic credentials) of each."""
    from store import tenants
    from store.crypto import SecretBox
    from store.db import Store
    from sync.configure import configure
    from sync.engine.context import Context

    redirect_uri = setting.config.callback_url  # the app's registered callback

    def in_the_simulators(k: int) -> tuple[int, int, str, dict[str, Any]]:
        cid, admin, key = FIRST_COMPANY + k, FIRST_ADMIN + k, f"bench-maileon-key-{k:05d}"
        with httpx.Client(timeout=30) as http:
            http.post(
                f"{setting.sims.pd_url}/_sim/companies", json={"company_id": cid, "admin_id": admin}
            ).raise_for_status()
            http.post(
                f"{setting.sims.ml_url}/_sim/keys", json={"key": key, "account": f"acc{cid}"}
            ).raise_for_status()
            return cid, admin, key, _oauth_tokens(http, setting, admin, redirect_uri)

    started = time.monotonic()
    with ThreadPoolExecutor(SEED_CONCURRENCY) as pool:
        installs = list(pool.map(in_the_simulators, range(companies)))
    print(f"  consent and tokens: {time.monotonic() - started:.1f} s", flush=True)
    store = Store(config.database_path, SecretBox(config.encryption_keys))
    for cid, admin, key, tokens in installs:
        tenants.save_installation(
            store,
            company_id=cid,
            company_name=f"Company {cid}",
            domain=f"c{cid}",
            api_domain=tokens["api_domain"],
            user_id=admin,
            user_name="Admin",
            is_admin=True,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_in=tokens["expires_in"],
            scope=tokens["scope"],
        )
        tenants.update_settings(
            store,
            cid,
            maileon_api_key=key,
            maileon_key_status="valid",
            contacts_sync=True,
            sync_user_id=admin,
        )

    async def configure_all() -> None:
        gate = asyncio.Semaphore(SEED_CONCURRENCY)
        async with httpx.AsyncClient(timeout=30) as http:
            ctx = Context.create(config, store, http)

            async def one(cid: int) -> None:
                async with gate:
                    await configure(ctx, cid)

            await asyncio.gather(*(one(FIRST_COMPANY + k) for k in range(companies)))

    started = time.monotonic()
    asyncio.run(configure_all())
    print(f"  configure: {time.monotonic() - started:.1f} s", flush=True)
    store.close()
    hooks: dict[int, str] = {}
    for hook in setting.sims.pd("GET", "/_sim/state")["webhooks"]:
        raw = f"{hook['http_auth_user']}:{hook['http_auth_password']}"
        hooks.setdefault(hook["company_id"], "Basic " + base64.b64encode(raw.encode()).decode())
    return [(cid, hooks[cid]) for cid, _, _, _ in installs]
