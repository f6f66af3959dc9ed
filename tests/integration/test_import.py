"""Import existing contacts (F12) over real HTTP: the settings card, the durable import job in
its two phases (reading Pipedrive pages into staged rows, sending them in batches), the
simulated Pipedrive (cursor pages, 429s) and the simulated Maileon (synchronize)."""

from __future__ import annotations

import base64
import math
import re
import sqlite3
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from sandbox.server import ServerThread
from sync.runs.page_prefetch import DEPTH
from tests.harness import COMPANY, MAILEON_KEY, SALES, Harness
from tests.integration.test_contact_rules import option
from tests.waiting import wait_until
from web.app import create_app


def bulk(harness: Harness, count: int, domain: str = "bulk.test") -> list[int]:
    body = {"company_id": COMPANY, "count": count, "email_domain": domain, "fire_webhooks": False}
    ids: list[int] = harness.pd("POST", "/_sim/bulk_persons", json=body)["ids"]
    return ids


def hx(harness: Harness) -> dict[str, str]:
    return {"HX-Request": "true", "Origin": harness.app_url}


def start(harness: Harness, client: httpx.Client, **form: str) -> str:
    r = client.post(f"{harness.app_url}/settings/import/start", data=form, headers=hx(harness))
    assert r.status_code == 200, r.text
    return r.text


def card(harness: Harness, client: httpx.Client) -> str:
    r = client.get(f"{harness.app_url}/settings/import", headers=hx(harness))
    assert r.status_code == 200, r.text
    return r.text


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def wait_for(
    harness: Harness,
    client: httpx.Client,
    state: str,
    timeout: float = 25.0,
    at_least_done: int = 0,
) -> str:
    html = ""

    def reached() -> str:
        nonlocal html
        html = card(harness, client)
        done = re.search(r"(\d+) of \d+ persons processed", text(html))
        at_least = int(done.group(1) if done else 0) >= at_least_done
        return html if f'data-state="{state}"' in html and at_least else ""

    try:
        return wait_until(reached, timeout, interval=0.05)
    except AssertionError:
        raise AssertionError(f"import not {state} after {timeout}s: {text(html)}") from None


def permissions(harness: Harness) -> dict[str, Any]:
    return {email: c["permission"] for email, c in harness.contacts().items()}


def pd_requests(harness: Harness, prefix: str) -> list[dict[str, Any]]:
    return [
        r
        for r in harness.pd("GET", "/_sim/state")["requests"]
        if r.get("path", "").startswith(prefix)
    ]


def synchronize_calls(harness: Harness) -> list[dict[str, Any]]:
    return [
        r
        for r in harness.ml("GET", "/_sim/state")["requests"]
        if r["method"] == "POST" and r["path"] == "/1.0/contacts"
    ]


def import_row(harness: Harness) -> dict[str, Any]:
    conn = sqlite3.connect(harness.config.database_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM imports ORDER BY id DESC LIMIT 1").fetchone())
    conn.close()
    return row


def staged_rows(harness: Harness) -> int:
    conn = sqlite3.connect(harness.config.database_path)
    count = int(conn.execute("SELECT count(*) FROM import_rows").fetchone()[0])
    conn.close()
    return count


def list_calls(harness: Harness) -> list[int]:
    """Statuses of the Pipedrive person list calls (GET /api/v2/persons)."""
    return [
        r["status"]
        for r in pd_requests(harness, "/api/v2/persons")
        if r["method"] == "GET" and r["path"] == "/api/v2/persons"
    ]


def wait_for_phase(
    harness: Harness, phase: str, at_least_read: int = 0, timeout: float = 20.0
) -> dict[str, Any]:
    row: dict[str, Any] = {}

    def reached() -> dict[str, Any]:
        nonlocal row
        row = import_row(harness)
        return row if row["phase"] == phase and row["counted"] >= at_least_read else {}

    try:
        return wait_until(reached, timeout)
    except AssertionError:
        raise AssertionError(f"import not in phase {phase} after {timeout}s: {row}") from None


@pytest.mark.slow
def test_import_of_thousands_of_persons_survives_429s(harness: Harness) -> None:
    client = harness.setup_company(contacts_sync=False, initial_permission=3)
    key, subscribed = option(harness, "Subscribed")
    harness.create_person(name="Sue Sub", email="sue@example.com", custom_fields={key: subscribed})
    harness.create_person(name="No Mail")
    harness.create_person(name="Bad Mail", email="not-an-email")
    bulk(harness, 2000)
    harness.settle()
    harness.pd(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/api/v2/persons", "status": 429, "count": 3, "retry_after": 1},
    )
    assert "Reading persons from Pipedrive: 0 so far." in text(start(harness, client))

    html = wait_for(harness, client, "done", timeout=30)
    shown = text(html)
    assert "Import finished." in shown
    assert "2003 of 2003 persons processed (100%) · 2001 imported · 2 skipped" in shown
    assert "1 skipped: no email address" in shown and "1 skipped: email address not valid" in shown
    assert 'value="2003"' in html and 'max="2003"' in html
    perms = permissions(harness)
    assert len(perms) == 2001
    assert perms.pop("sue@example.com") == 3  # Newsletter Subscribed, DOI off
    assert set(perms.values()) == {1}  # everyone else without permission
    assert "Bulk Person" in harness.contacts()["bulk1@bulk.test"]["standard_fields"]["FULLNAME"]
    # The three 429s were waited out and retried; each page was read exactly once.
    lists = list_calls(harness)
    assert lists.count(429) == 3
    assert lists.count(200) == math.ceil(2003 / 500) == 5
    calls = synchronize_calls(harness)
    # One synchronize per batch of 1,000 and permission: Sue (permission 3) is in the first.
    assert len(calls) == 3 + 1
    assert max(len(c["emails"]) for c in calls) == 1000
    # the first batch went to Maileon while the later pages were still being read
    reads = [
        datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() * 1000
        for r in pd_requests(harness, "/api/v2/persons")
        if r["status"] == 200
    ]
    assert min(c["time"] for c in calls) < max(reads)
    assert all(
        "reimport_unsubscribed_contacts=false" in c["query"]
        and "override_permission=false" in c["query"]
        for c in calls
    )
    assert staged_rows(harness) == 0  # the staged rows went with the finished import
    assert "Import finished: 2001 of 2003 persons imported" in text(
        client.get(f"{harness.app_url}/settings").text
    )  # in the sync log


def restart(harness: Harness) -> ServerThread:
    app_port = int(harness.app_url.rsplit(":", 1)[1])
    return ServerThread(create_app(harness.config), port=app_port).start()


def test_an_import_resumes_mid_read_after_a_restart_without_duplicates(harness: Harness) -> None:
    client = harness.setup_company()
    bulk(harness, 2000)
    harness.pd("POST", "/_sim/latency", json={"ms": 300})
    start(harness, client)
    wait_for_phase(harness, "reading", at_least_read=500)
    assert "Reading persons from Pipedrive:" in text(card(harness, client))
    harness.app_server.stop()
    stopped_at = import_row(harness)
    assert stopped_at["phase"] == "reading" and 500 <= stopped_at["counted"] < 2000
    assert stopped_at["total"] is None and staged_rows(harness) == stopped_at["counted"]
    # a full batch goes to Maileon while the next page is read
    assert len(synchronize_calls(harness)) == stopped_at["sent_seq"] // 1000
    harness.pd("POST", "/_sim/latency", json={"ms": 0})
    restarted = restart(harness)
    try:
        shown = text(wait_for(harness, client, "done", timeout=20))
        assert "2000 of 2000 persons processed (100%) · 2000 imported · 0 skipped" in shown
        assert len(harness.contacts()) == 2000
        # The restart resumed at the saved cursor: each batch sent once, each page read once,
        # except the pages read ahead when the app stopped (lost with the process) at most.
        calls, pages = list_calls(harness), math.ceil(2000 / 500)
        assert set(calls) == {200} and pages <= len(calls) <= pages + DEPTH
        assert len(synchronize_calls(harness)) == 2
        assert staged_rows(harness) == 0
    finally:
        restarted.stop()


def test_an_import_resumes_mid_send_after_a_restart_without_duplicates(harness: Harness) -> None:
    client = harness.setup_company()
    ids = bulk(harness, 3000)
    harness.ml("POST", "/_sim/latency", json={"ms": 400})
    start(harness, client)
    wait_until(lambda: import_row(harness)["sent_seq"] >= 1000, timeout=20)
    harness.app_server.stop()
    stopped_at = import_row(harness)
    assert stopped_at["state"] == "running"
    # a stop lets the batch under way finish: the first, sent while reading, or the second
    assert stopped_at["done"] == stopped_at["sent_seq"] in (1000, 2000)
    assert staged_rows(harness) == stopped_at["counted"] >= 1500
    # Meanwhile a webhook synced a newer change of the last person (not sent yet): the import
    # must not overwrite it with the older data it read.
    conn = sqlite3.connect(harness.config.database_path)
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO persons (company_id, person_id, email, "
            "last_update_time, maileon_state, synced_at) VALUES (?,?,?,?,?,?)",
            (COMPANY, ids[-1], "bulk3000@bulk.test", "2999-01-01T00:00:00Z", "none", time.time()),
        )
    conn.close()
    harness.ml("POST", "/_sim/latency", json={"ms": 0})
    restarted = restart(harness)
    try:
        shown = text(wait_for(harness, client, "done", timeout=20))
        assert "3000 of 3000 persons processed (100%) · 2999 imported · 1 skipped" in shown
        assert "1 skipped: updated meanwhile by a webhook" in shown
        assert len(harness.contacts()) == 2999 and "bulk3000@bulk.test" not in harness.contacts()
        # Each batch went to Maileon once: the restart resumed after the last sent batch.
        assert len(synchronize_calls(harness)) == 3  # 3 batches of 1,000, one call each
        # each page read once, but for the pages read ahead when the app stopped, if it did
        calls = list_calls(harness)
        assert set(calls) == {200} and 6 <= len(calls) <= 6 + DEPTH
        assert staged_rows(harness) == 0
    finally:
        restarted.stop()


def test_unsubscribed_contacts_are_not_reimported(harness: Harness) -> None:
    client = harness.setup_company()
    bulk(harness, 30)
    auth = {
        "Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode(),
        "Content-Type": "application/vnd.maileon.api+json",
    }
    r = httpx.post(
        f"{harness.ml_url}/1.0/contacts/email/bulk3%40bulk.test",
        params={"permission": "2", "sync_mode": "1"},
        json={},
        headers=auth,
    )
    assert r.status_code < 300, r.text
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "bulk3@bulk.test"})
    start(harness, client)
    shown = text(wait_for(harness, client, "done"))
    assert "30 of 30 persons processed (100%) · 29 imported · 1 skipped" in shown
    assert "1 skipped: unsubscribed in Maileon (not re-imported)" in shown
    # Maileon anonymized the unsubscribed contact; the import did not bring it back.
    contacts = harness.contacts()
    assert "bulk3@bulk.test" not in contacts and len(contacts) == 29


def test_one_import_at_a_time_cancel_and_read_only_users(harness: Harness) -> None:
    client = harness.setup_company()
    bulk(harness, 2000)
    harness.ml("POST", "/_sim/latency", json={"ms": 400})
    start(harness, client)
    again = text(start(harness, client))
    assert "An import is already running; this is its progress." in again
    wait_for(harness, client, "running", at_least_done=500)

    sales = harness.install(user_id=SALES)
    page = sales.get(f"{harness.app_url}/settings").text
    assert 'id="import-bar"' in page and "Importing" in text(page)
    assert "Cancel import" not in page and "Start import" not in page
    r = sales.post(f"{harness.app_url}/settings/import/cancel", headers=hx(harness))
    assert r.status_code == 403

    r = client.post(f"{harness.app_url}/settings/import/cancel", headers=hx(harness))
    assert r.status_code == 200 and "Import cancelled." in text(r.text)
    assert "Import again" in r.text
    harness.settle()
    done_at_cancel = import_row(harness)["done"]
    assert 500 <= done_at_cancel < 2000
    count = len(harness.contacts())
    # every import job has ended (the step running at the cancel finished, no next one came),
    # so nothing is left that could write more contacts
    assert harness.rows("SELECT count(*) FROM jobs WHERE kind='import' AND state!='done'") == [(0,)]
    harness.settle()
    assert len(harness.contacts()) == count <= done_at_cancel + 1000
    rows = (
        sqlite3.connect(harness.config.database_path)
        .execute("SELECT count(*) FROM imports")
        .fetchone()[0]
    )
    assert rows == 1
    assert staged_rows(harness) == 0  # cancel dropped the staged rows


def test_imported_persons_are_not_resent_by_unchanged_webhooks(harness: Harness) -> None:
    client = harness.setup_company()
    ids = bulk(harness, 5)
    start(harness, client)
    wait_for(harness, client, "done")
    writes = len(harness.ml("GET", "/_sim/state")["requests"])
    harness.pd("PATCH", f"/_sim/persons/{ids[0]}", json={"phones": [{"value": "+4912345"}]})
    harness.pd("PATCH", f"/_sim/persons/{ids[1]}", json={"name": "Renamed Person"})
    harness.settle()
    later = harness.ml("GET", "/_sim/state")["requests"][writes:]
    # Only the real change (the name) reached Maileon; the phone is not a synced field.
    contact_writes = [
        r for r in later if r["method"] in ("POST", "PUT") and "/contacts/email/" in r["path"]
    ]
    assert len(contact_writes) == 1 and "bulk2" in contact_writes[0]["path"]
    assert harness.contacts()["bulk2@bulk.test"]["standard_fields"]["FULLNAME"] == "Renamed Person"


def test_open_deals_can_be_sent_along(harness: Harness) -> None:
    client = harness.setup_company()
    person = harness.create_person(name="Deal Person", email="deals@example.com")
    for title, status in (("Open one", "open"), ("Won one", "won")):
        harness.pd(
            "POST",
            "/_sim/deals",
            json={
                "company_id": COMPANY,
                "title": title,
                "person_id": person["id"],
                "status": status,
            },
        )
    harness.settle()  # Deals sync is off: the deal webhooks sent nothing
    r = harness.save_settings(client, contacts_sync=True, deals_sync=True)
    assert "Settings saved" in r.text
    assert "Also send open deals as transactions" in card(harness, client)
    start(harness, client, include_deals="1")
    shown = text(wait_for(harness, client, "done"))
    assert "1 open deal queued as transactions" in shown
    harness.settle()
    sent = harness.ml("GET", "/_sim/state")["transactions"]
    assert [(t["type_name"], t["email"], t["content"]["title"]) for t in sent] == [
        ("pipedrive_deal_updated", "deals@example.com", "Open one")
    ]


def test_an_unsubscribe_applied_while_an_import_batch_waits_for_maileon_is_kept(
    harness: Harness,
) -> None:
    """Item 8: the import reads the persons' states, waits for Maileon, then saves them. A
    Maileon unsubscribe the app applies meanwhile must survive that save (the person stays
    unsubscribed in the app, so nothing later re-creates or re-subscribes the contact)."""

    client = harness.setup_company(initial_permission=2)
    key, subscribed = option(harness, "Subscribed")
    person = harness.create_person(
        name="Ada Race", email="ada.race@example.com", custom_fields={key: subscribed}
    )
    harness.settle()
    assert harness.contacts()["ada.race@example.com"]["permission"] == 2

    harness.ml("POST", "/_sim/hold", json={"path": "/1.0/contacts", "method": "POST"})
    start(harness, client)
    wait_until(lambda: harness.ml("GET", "/_sim/hold")["held"] == 1)  # the batch is in flight
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "ada.race@example.com"})
    wait_until(
        lambda: (
            harness.rows("SELECT maileon_state FROM persons WHERE person_id=?", (person["id"],))
            == [("unsubscribed",)]
        )
    )
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    harness.ml("POST", "/_sim/release")
    wait_for(harness, client, "done")
    harness.settle()

    assert harness.rows(
        "SELECT maileon_state, newsletter FROM persons WHERE person_id=?", (person["id"],)
    ) == [("unsubscribed", "Unsubscribed")]
    # and so a later edit in Pipedrive brings nothing back in Maileon
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"first_name": "Augusta"})
    harness.settle()
    assert "ada.race@example.com" not in harness.contacts()
