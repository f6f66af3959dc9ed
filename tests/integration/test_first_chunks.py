"""Issue 29: after a start, each company's first jobs check its fields once (Pipedrive's person
fields, Maileon's custom fields), and the jobs that wait for that check go on together: a
company's new persons still reach Maileon in full batches while other companies' backlogs
compete for the worker's slots. (They passed the company's lock one by one, each after
taking a slot in turn with every other company's jobs, and went to Maileon one or two at a
time.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from appconfig import Config
from sandbox.server import ServerThread
from store.crypto import SecretBox
from store.db import Store
from sync.engine.context import Context
from tests.conftest import running_harness
from tests.harness import MAILEON_KEY, Harness, contact_writes
from tests.webhooks import credentials, person_v2
from web.app import create_app

COMPANIES = 12
PERSONS = 100  # one worker chunk, one synchronize batch
FIRST_COMPANY, FIRST_ADMIN = 2101, 701


class NoWorker:
    def wake(self, due_at: float | None = None) -> None:
        """Nothing runs while the app is stopped."""


async def queue_while_stopped(config: Config, bursts: list[tuple[str, int, int]]) -> None:
    """(auth, company id, admin id): each company's PERSONS `create` webhooks through the real
    receiver, in-process, into the stopped app's database, interleaved as they would arrive."""
    app = create_app(config)
    store = Store(config.database_path, SecretBox(config.encryption_keys))
    async with httpx.AsyncClient() as unused:
        app.state.ctx = Context.create(config, store, unused)
        app.state.worker = NoWorker()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=config.app_url) as client:
            for n in range(PERSONS):
                for auth, company_id, admin_id in bursts:
                    pid = company_id * 1000 + n
                    body = person_v2(
                        pid,
                        "create",
                        name=f"First Chunk{pid}",
                        email=f"p{pid}@c{company_id}.test",
                        meta={"company_id": str(company_id), "user_id": str(admin_id)},
                    )
                    r = await client.post(
                        "/webhooks/pipedrive",
                        content=json.dumps(body),
                        headers={"Authorization": auth, "Content-Type": "application/json"},
                    )
                    assert r.status_code == 200, r.text
    store.close()


def install_companies(harness: Harness) -> list[tuple[str, int, int]]:
    companies = []
    for k in range(COMPANIES):
        cid, admin = FIRST_COMPANY + k, FIRST_ADMIN + k
        harness.pd("POST", "/_sim/companies", json={"company_id": cid, "admin_id": admin})
        # each company's admin installs from their own address (the install throttle counts
        # per client address)
        browser = httpx.Client(
            timeout=20, follow_redirects=False, headers={"X-Forwarded-For": f"192.0.2.{k + 1}"}
        )
        client = harness.install(user_id=admin, client=browser)
        saved = harness.save_settings(client, maileon_api_key=MAILEON_KEY, contacts_sync=True)
        assert saved.status_code == 200
        companies.append((credentials(harness, cid), cid, admin))
    harness.settle()
    return companies


def test_each_companys_first_chunk_reaches_maileon_in_full_batches(tmp_path: Path) -> None:
    with running_harness(tmp_path) as harness:
        companies = install_companies(harness)
        port = int(harness.app_url.rsplit(":", 1)[1])
        harness.app_server.stop()
        asyncio.run(queue_while_stopped(harness.config, companies))
        harness.ml("POST", "/_sim/latency", json={"ms": 50})
        # a fresh start: no company's fields are known yet
        harness.app_server = ServerThread(create_app(harness.config), port=port).start()
        harness.settle(timeout=60)
        harness.ml("POST", "/_sim/latency", json={"ms": 0})

        batches = [emails for method, emails in contact_writes(harness) if method == "SYNC"]
        for _, cid, _ in companies:
            ours = [b for b in batches if b and b[0].endswith(f"@c{cid}.test")]
            assert sum(len(b) for b in ours) == PERSONS
            # one chunk's batch, or two when a slow turn splits it; never a trickle
            assert len(ours) <= 3, [len(b) for b in ours]
