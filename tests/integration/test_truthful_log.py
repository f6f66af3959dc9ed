"""A log that tells the truth (issue #26, item 4): a preview is not a sync, the app's own
echoes are not news, one change is one row, imported deals say imported, and person and deal
names link to them in Pipedrive."""

from __future__ import annotations

import html
import re

import httpx

from store.db import now as store_clock
from tests.harness import COMPANY, MAILEON_KEY, Harness
from tests.integration.test_contact_rules import option, sync_log
from tests.integration.test_import import start, wait_for
from tests.integration.test_panel import act, make_token, status
from tests.integration.test_sync_health import card
from tests.integration.test_sync_rules import preview
from tests.waiting import wait_until


def last_ok(harness: Harness) -> float | None:
    value = harness.rows("SELECT max(at) FROM sync_log WHERE result='ok'")[0][0]
    return float(value) if value is not None else None


def test_a_preview_is_not_a_sync(harness: Harness) -> None:
    client = harness.setup_company()
    harness.create_person(name="Ada Lovelace", email="ada@example.com")
    harness.settle()
    before = last_ok(harness)
    assert before is not None
    wait_until(lambda: store_clock() > before)  # a sync now would log a later time
    assert preview(harness, client, mode="newsletter")  # the card shows the preview's result
    harness.settle()
    assert last_ok(harness) == before  # "Last successful sync" unchanged
    assert "Sync rules" not in card(harness, client)
    assert [r for r in sync_log(harness) if r["kind"] == "rules"] == []


def test_the_echo_of_a_panel_unsubscribe_is_no_news(harness: Harness) -> None:
    harness.setup_company(initial_permission=2)
    key, subscribed = option(harness, "Subscribed")
    person = harness.create_person(
        name="Una Unsub", email="una@example.com", custom_fields={key: subscribed}
    )
    harness.settle()
    assert act(harness, "unsubscribe", person["id"], make_token(harness)).status_code == 200
    harness.settle()
    assert harness.newsletter_of(person["id"]) == "Unsubscribed"
    wait_until(lambda: harness.queue_depth() == 0)
    lines = [(r["result"], r["message"]) for r in sync_log(harness) if r["kind"] == "person"]
    assert lines[-1][0] == "ok" and "unsubscribed in Maileon" in lines[-1][1], lines
    assert not any("not re-created" in message for _, message in lines), lines


def test_one_failed_change_is_one_failed_row_even_after_the_sweep(
    fast_periodic_harness: Harness,
) -> None:
    harness = fast_periodic_harness
    client = harness.setup_company()
    wait_until(lambda: harness.rows("SELECT count(*) FROM cursors WHERE name='sweep'")[0][0])
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Fay Fail", email="fay@example.com")
    harness.settle()

    def sweeps() -> int:  # the sweep's reads of the changed persons (nothing else lists them)
        requests = harness.pd("GET", "/_sim/state")["requests"]
        return sum(r["method"] == "GET" and r["path"] == "/api/v2/persons" for r in requests)

    # the sweep runs about every 0.6 s here; let it read the persons a few times
    swept = sweeps()
    wait_until(lambda: sweeps() >= swept + 4, timeout=20, interval=0.1)
    harness.settle()
    failed = [r for r in sync_log(harness) if r["kind"] == "person" and r["result"] == "failed"]
    assert len(failed) == 1, failed
    assert card(harness, client, "?log=failed").count("Fay Fail → Maileon Failed") == 1


def test_an_imported_open_deal_says_imported(harness: Harness) -> None:
    client = harness.setup_company(deals_sync=True)
    harness.save_settings(client, contacts_sync=True)  # deals off while the deal is made
    person = harness.create_person(name="Deal Person", email="deals@example.com")
    harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": "Open one", "person_id": person["id"]},
    )
    harness.settle()
    assert (
        "Settings saved" in harness.save_settings(client, contacts_sync=True, deals_sync=True).text
    )
    start(harness, client, include_deals="1")
    wait_for(harness, client, "done")
    harness.settle()
    panel = html.unescape(status(harness, person["id"], make_token(harness)).text)
    assert "Deal imported" in panel and "Deal updated" not in panel
    assert "Deal 'Open one' → Maileon Done imported (open deal)" in card(harness, client)


def test_person_and_deal_names_link_to_them_in_pipedrive(harness: Harness) -> None:
    client = harness.setup_company(deals_sync=True)
    ada = harness.create_person(name="Ada Lovelace", email="ada@example.com")
    deal = harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": "Big deal", "person_id": ada["id"]},
    )
    harness.settle()
    page = client.get(f"{harness.app_url}/settings/health").text
    person_link = re.search(r'<a href="([^"]+)"[^>]*>Ada Lovelace</a> → Maileon', page)
    deal_link = re.search(r'<a href="([^"]+)"[^>]*>Deal &#39;Big deal&#39;</a> → Maileon', page)
    assert person_link and deal_link, page
    assert person_link.group(1) == f"{harness.pd_url}/person/{ada['id']}"
    assert deal_link.group(1) == f"{harness.pd_url}/deal/{deal['id']}"
    opened = httpx.get(person_link.group(1), follow_redirects=True)
    assert opened.status_code == 200 and "Ada Lovelace" in opened.text
