"""F15 end to end: mailings sent in the simulated Maileon, opened, clicked and bounced by the
recipient, come back: stored once per event, notes and person fields in the simulated Pipedrive.
Everything runs over real HTTP against the two simulators; nothing of the app is mocked."""

from __future__ import annotations

import base64
import html
import re
import sqlite3
import time
from typing import Any

import httpx
import pytest

from tests.harness import ADMIN, COMPANY, MAILEON_KEY, SALES, Harness
from tests.waiting import wait_until


def doi_plus_person(h: Harness, email: str, first: str, last: str) -> dict[str, Any]:
    key, options = h.newsletter_field()
    person = h.create_person(
        first_name=first, last_name=last, email=email, custom_fields={key: options["Subscribed"]}
    )
    wait_until(lambda: h.contacts().get(email, {}).get("doi_pending"))
    h.ml("POST", "/_sim/contacts/confirm_doi", json={"email": email})
    wait_until(lambda: h.contacts()[email]["permission"] == 5)
    return person


def send(h: Harness, name: str, emails: list[str]) -> int:
    r = h.ml("POST", "/_sim/mailings", json={"name": name, "contacts": emails})
    return int(r["mailing_id"])


def act(h: Harness, mid: int, email: str, action: str, **data: Any) -> None:
    h.ml("POST", f"/_sim/mailings/{mid}/act", json={"contact": email, "action": action, **data})


def events(h: Harness, kind: str | None = None) -> list[tuple[Any, ...]]:
    if kind is None:
        return h.rows("SELECT kind, person_id, mailing_id FROM engagement_events ORDER BY at")
    return h.rows(
        "SELECT kind, person_id, mailing_id, bounce_type, code FROM engagement_events WHERE kind=?",
        (kind,),
    )


def notes_of(h: Harness, person_id: int) -> list[dict[str, Any]]:
    return h.pipedrive.notes.notes_of(person_id)


def field_value(h: Harness, person_id: int, name: str) -> Any:
    state = h.pd("GET", "/_sim/state")
    key = next((f["key"] for f in state["person_fields"] if f["name"] == name), None)
    person = next(p for p in state["persons"] if p["id"] == person_id)
    return person["custom_fields"].get(key) if key else None


def rewind_cursor(h: Harness) -> None:
    """As after a crash before the cursor was saved: the next read covers everything again."""
    conn = sqlite3.connect(h.config.database_path)
    try:
        conn.execute("UPDATE cursors SET value='0' WHERE name='engagement_reports'")
        conn.commit()
    finally:
        conn.close()


def sync_log(h: Harness, client: httpx.Client) -> str:
    r = client.get(f"{h.app_url}/settings/health")
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


@pytest.mark.slow
def test_reports_read_over_a_cursor_store_each_event_once_and_write_to_pipedrive(
    fast_periodic_harness: Harness,
) -> None:
    h = fast_periodic_harness
    client = h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    mid = send(h, "November news", ["ada@example.com"])
    act(h, mid, "ada@example.com", "open")
    act(h, mid, "ada@example.com", "click", link_url="https://example.com/offer")
    wait_until(lambda: len(events(h)) == 3, timeout=20)
    assert [e[0] for e in events(h)] == ["sent", "open", "click"]
    assert all(e[1] == ada["id"] and e[2] == str(mid) for e in events(h))
    wait_until(lambda: field_value(h, ada["id"], "Last newsletter click"), timeout=20)
    assert notes_of(h, ada["id"]) == []  # never anything per open or click

    # a re-read of the same window stores nothing twice
    h.settle()
    rewind_cursor(h)
    calls_before = len(
        [r for r in h.ml("GET", "/_sim/state")["requests"] if r["path"] == "/1.0/reports/clicks"]
    )
    wait_until(
        lambda: (
            len(
                [
                    r
                    for r in h.ml("GET", "/_sim/state")["requests"]
                    if r["path"] == "/1.0/reports/clicks"
                ]
            )
            > calls_before + 1
        ),
        timeout=20,
    )
    assert len(events(h)) == 3
    reads = [
        r for r in h.ml("GET", "/_sim/state")["requests"] if r["path"].startswith("/1.0/reports/")
    ]
    assert all("page_size=1000" in r["query"] and "to_date=" in r["query"] for r in reads)

    # a hard bounce comes by webhook: stored, enriched from the report, a note and the field
    act(h, mid, "ada@example.com", "hard_bounce", status_code="5.1.1")
    wait_until(lambda: len(notes_of(h, ada["id"])) == 1, timeout=20)
    assert events(h, "bounce") == [("bounce", ada["id"], str(mid), "hard", "5.1.1")]
    note = notes_of(h, ada["id"])[0]
    assert "November news" in note["content"] and "5.1.1" in note["content"]
    wait_until(lambda: field_value(h, ada["id"], "Email bounced"), timeout=20)  # after the note
    h.settle()
    assert "note on Ada Lovelace" in sync_log(h, client)
    assert len(notes_of(h, ada["id"])) == 1  # the periodic read of the same bounce adds none

    # the unsubscribe from the mailing: one note, with how
    act(h, mid, "ada@example.com", "unsubscribe")
    wait_until(lambda: len(notes_of(h, ada["id"])) == 2, timeout=20)
    assert "How: link" in notes_of(h, ada["id"])[1]["content"]


def test_bounce_webhook_needs_the_company_token(harness: Harness) -> None:
    h = harness
    h.setup_company()
    url = f"{h.app_url}/webhooks/maileon/{COMPANY}/bounce"
    assert httpx.post(url, json={"email": "x@example.com"}).status_code == 401
    assert httpx.post(url, params={"token": "nope"}, json={}).status_code == 403
    hook = next(w for w in h.ml("GET", "/_sim/state")["webhooks"] if w["event"] == "bounce")
    token = next(p["custom_value"] for p in hook["urlParams"] if p["name"] == "token")
    bad = httpx.post(url, params={"token": token}, content=b"[1]")
    assert bad.status_code == 400
    ok = httpx.post(url, params={"token": token}, json={"email": "x@example.com", "msg_id": "7"})
    assert ok.status_code == 200 and ok.json() == {"ok": True, "duplicate": False}
    again = httpx.post(url, params={"token": token}, json={"email": "x@example.com", "msg_id": "7"})
    assert again.json()["duplicate"] is True


def panel_fragment(h: Harness, person_id: int, refresh: bool = False, user: int = ADMIN) -> str:
    r = httpx.get(
        f"{h.app_url}/panel/engagement",
        params={"selectedIds": str(person_id), **({"refresh": "1"} if refresh else {})},
        headers={"X-Pipedrive-Token": h.sign_token(user)},
        timeout=20,
    )
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


def test_panel_shows_recent_mailings_and_refreshes_in_the_background(harness: Harness) -> None:
    h = harness
    h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    # Bob was in Maileon before with single opt-in: his opens and clicks are anonymous
    h.ml("POST", "/_sim/contacts", json={"email": "bob@example.com", "permission": 2})
    bob = h.create_person(first_name="Bob", last_name="Soi", email="bob@example.com")
    h.settle()
    first = send(h, "October news", ["ada@example.com"])
    second = send(h, "November news", ["ada@example.com", "bob@example.com"])
    act(h, second, "ada@example.com", "click", link_url="https://example.com/offer")
    act(h, first, "ada@example.com", "soft_bounce", status_code="4.2.2")
    receipt = h.ml(
        "POST",
        "/_sim/mailings",
        json={"name": "Your receipt", "type": "trigger", "contacts": ["ada@example.com"]},
    )
    assert receipt["sent"]

    # the first render shows what the app holds (the bounce its webhook brought, not yet the
    # click) and asks for a refresh in the background
    h.settle()
    stale = panel_fragment(h, ada["id"])
    assert "refresh=1" in stale and "November news" not in stale
    fresh = panel_fragment(h, ada["id"], refresh=True)
    assert "refresh=1" not in fresh
    assert fresh.index("November news") < fresh.index("October news")  # newest first
    assert "https://example.com/offer" in fresh and "Bounced (soft, 4.2.2)" in fresh
    assert "not tied to this person" not in fresh
    assert re.search(r"Your receipt</strong>\s*<span class=\"muted\">\(transactional\)", fresh)
    # held now: the next render comes from the app's own data, without asking Maileon
    before = len(h.ml("GET", "/_sim/state")["requests"])
    again = panel_fragment(h, ada["id"])
    assert "November news" in again and "refresh=1" not in again
    assert len(h.ml("GET", "/_sim/state")["requests"]) == before

    bob_view = panel_fragment(h, bob["id"], refresh=True)
    assert "November news" in bob_view
    assert "Opens and clicks are not tied to this person" in bob_view


def test_panel_banner_when_maileon_blocks_the_address(harness: Harness) -> None:
    h = harness
    h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    for name in ("One", "Two", "Three"):
        mid = send(h, name, ["ada@example.com"])
        act(h, mid, "ada@example.com", "hard_bounce")
    view = panel_fragment(h, ada["id"], refresh=True)
    assert "Maileon blocks this address" in view


def hx(h: Harness) -> dict[str, str]:
    return {"HX-Request": "true", "Origin": h.app_url}


def test_settings_card_switches_what_is_written(fast_periodic_harness: Harness) -> None:
    h = fast_periodic_harness
    client = h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    card = client.get(f"{h.app_url}/settings/engagement", headers=hx(h))
    assert card.status_code == 200
    assert 'id="eng_panel" name="panel" value="1" checked' in card.text
    assert 'id="eng_digest" name="digest" value="1" >' in card.text  # off by default
    assert 'href="#engagement"' in client.get(f"{h.app_url}/settings").text
    # notes off, fields on
    r = client.post(
        f"{h.app_url}/settings/engagement", data={"panel": "1", "fields": "1"}, headers=hx(h)
    )
    assert r.status_code == 200 and "Engagement settings saved" in r.text
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    mid = send(h, "November news", ["ada@example.com"])
    act(h, mid, "ada@example.com", "hard_bounce")
    wait_until(lambda: field_value(h, ada["id"], "Email bounced"), timeout=20)
    h.settle()
    assert notes_of(h, ada["id"]) == []
    # a contact Maileon knows but no Pipedrive person has: skipped, one warning on the health card
    h.ml("POST", "/_sim/contacts", json={"email": "stranger@example.com", "permission": 4})
    send(h, "Strangers", ["stranger@example.com"])
    wait_until(lambda: "no synced" in html.unescape(sync_log(h, client)), timeout=20)
    card_text = html.unescape(client.get(f"{h.app_url}/settings/engagement", headers=hx(h)).text)
    assert "Last read of Maileon" in card_text and "not yet" not in card_text
    # everything off: Maileon's reports are no longer read
    client.post(f"{h.app_url}/settings/engagement", data={}, headers=hx(h))
    h.settle()

    def recipient_reads() -> int:
        state = h.ml("GET", "/_sim/state")
        return len([r for r in state["requests"] if r["path"] == "/1.0/reports/recipients"])

    def runs() -> int:
        sql = "SELECT count(*) FROM jobs WHERE kind='periodic.engagement' AND state='done'"
        return int(h.rows(sql)[0][0])

    before, ran = recipient_reads(), runs()
    wait_until(lambda: runs() >= ran + 2, timeout=20)
    after = recipient_reads()
    assert after == before


def test_sales_user_sees_the_card_read_only_and_cannot_save(harness: Harness) -> None:
    h = harness
    h.setup_company()
    sales = h.install(user_id=SALES)
    card = sales.get(f"{h.app_url}/settings/engagement", headers=hx(h))
    assert card.status_code == 200 and "<form" not in card.text
    r = sales.post(f"{h.app_url}/settings/engagement", data={}, headers=hx(h))
    assert r.status_code == 403


def test_a_report_row_of_a_mailing_maileon_no_longer_knows_is_skipped(harness: Harness) -> None:
    """A report row naming a deleted mailing is skipped (never stored or shown as "Mailing
    N"); the rows of the mailings Maileon knows still come through."""
    h = harness
    h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    gone = send(h, "Withdrawn news", ["ada@example.com"])
    kept = send(h, "December news", ["ada@example.com"])
    deleted = httpx.delete(
        f"{h.ml_url}/1.0/mailings/{gone}",
        headers={"Authorization": "Basic " + base64.b64encode(MAILEON_KEY.encode()).decode()},
        timeout=10,
    )
    assert deleted.status_code == 200, deleted.text

    fresh = panel_fragment(h, ada["id"], refresh=True)
    assert "December news" in fresh
    assert "Withdrawn news" not in fresh and f"Mailing {gone}" not in fresh
    assert events(h) == [("sent", ada["id"], str(kept))]


def test_a_note_pipedrive_refused_for_a_while_is_written_once_it_answers(
    fast_periodic_harness: Harness,
) -> None:
    """The read that stored an unsubscribe could not write its note (Pipedrive answered 503);
    the event is no longer new to later reads, yet the note comes once Pipedrive answers."""
    h = fast_periodic_harness
    h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    mid = send(h, "January news", ["ada@example.com"])
    h.pd(
        "POST",
        "/_sim/faults",
        json={"path_prefix": "/api/v1/notes", "status": 503, "count": 10_000, "method": "POST"},
    )
    refused = h.pipedrive.faults.answered
    act(h, mid, "ada@example.com", "unsubscribe")
    wait_until(lambda: events(h, "unsubscribe"), timeout=20)
    wait_until(lambda: h.pipedrive.faults.answered > refused, timeout=20)  # the note's write
    assert notes_of(h, ada["id"]) == []

    h.pd("POST", "/_sim/reset_faults")
    wait_until(lambda: len(notes_of(h, ada["id"])) == 1, timeout=20)
    assert "January news" in notes_of(h, ada["id"])[0]["content"]
    h.settle()
    assert len(notes_of(h, ada["id"])) == 1


def test_the_click_digest_writes_one_note_per_person_and_finished_day(
    fast_periodic_harness: Harness,
) -> None:
    """Off by default; switched on, yesterday's clicks of a person become one note listing
    them (today's wait for the day to end), and later reads add none."""
    h = fast_periodic_harness
    client = h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    r = client.post(
        f"{h.app_url}/settings/engagement",
        data={"panel": "1", "notes": "1", "fields": "1", "digest": "1"},
        headers=hx(h),
    )
    assert r.status_code == 200 and "Engagement settings saved" in r.text
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    mid = send(h, "Weekly news", ["ada@example.com"])
    yesterday = int((time.time() - 86400) * 1000)
    for url in ("https://example.com/a", "https://example.com/b"):
        act(h, mid, "ada@example.com", "click", link_url=url, at_ms=yesterday)
    act(h, mid, "ada@example.com", "click", link_url="https://example.com/today")
    wait_until(lambda: len(notes_of(h, ada["id"])) == 1, timeout=20)
    note = notes_of(h, ada["id"])[0]["content"]
    assert "Newsletter clicks on" in note and "Weekly news" in note
    assert "https://example.com/a" in note and "https://example.com/b" in note
    assert "https://example.com/today" not in note

    def click_reads() -> int:
        state = h.ml("GET", "/_sim/state")
        return len([r for r in state["requests"] if r["path"] == "/1.0/reports/clicks"])

    read = click_reads()
    wait_until(lambda: click_reads() >= read + 2, timeout=20)  # two more reads went by
    assert len(notes_of(h, ada["id"])) == 1


def test_the_panel_shows_no_mailings_of_a_person_pipedrive_does_not_show_the_viewer(
    harness: Harness,
) -> None:
    """What the app stored about a person (mailings, bounces) is shown only once Pipedrive
    answers the viewing user with that person: an id the user cannot see shows nothing."""
    h = harness
    h.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", doi_plus=True)
    h.install(user_id=SALES)  # a second user of the company, with the app authorized
    ada = doi_plus_person(h, "ada@example.com", "Ada", "Lovelace")
    h.settle()
    mid = send(h, "Board minutes", ["ada@example.com"])
    act(h, mid, "ada@example.com", "hard_bounce")
    wait_until(lambda: events(h, "bounce"))  # stored from Maileon's webhook
    h.settle()
    assert "Board minutes" in panel_fragment(h, ada["id"])  # the admin sees her: shown

    # Pipedrive answers that the person is not there (hidden from this user, or gone)
    h.pd(
        "POST",
        "/_sim/faults",
        json={"path_prefix": f"/api/v2/persons/{ada['id']}", "status": 404, "count": 50},
    )
    hidden = panel_fragment(h, ada["id"], user=SALES)
    assert "Board minutes" not in hidden and "Bounced" not in hidden
