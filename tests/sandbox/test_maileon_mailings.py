"""Simulated mailings: sendouts, recipient actions, engagement reports and the bounce webhook."""

from __future__ import annotations

import time
from typing import Any

from tests.sandbox import test_maileon_sim as sim
from tests.sandbox.test_maileon_sim import create, idle, register_webhook, state, xml

servers = sim.servers  # the simulator and webhook receiver fixtures
env = sim.env


def send(env: dict[str, Any], name: str, contacts: list[str], kind: str = "regular") -> int:
    r = env["control"].post(
        "/_sim/mailings", json={"name": name, "type": kind, "contacts": contacts}
    )
    assert r.status_code == 201, r.text
    mid: int = r.json()["mailing_id"]
    return mid


def act(env: dict[str, Any], mid: int, contact: str, action: str, **data: Any) -> Any:
    r = env["control"].post(
        f"/_sim/mailings/{mid}/act", json={"contact": contact, "action": action, **data}
    )
    assert r.status_code == 200, r.text
    return r.json()["event"]


def test_reports_tie_opens_and_clicks_only_to_doi_plus(env: dict[str, Any]) -> None:
    api = env["api"]
    create(env, "plus@example.com", {"external_id": "11"}, permission=5)
    create(env, "doi@example.com", {"external_id": "12"}, permission=4)
    create(env, "none@example.com", {"external_id": "13"}, permission=1)
    before = int(time.time() * 1000)
    mid = send(env, "November news", ["plus@example.com", "doi@example.com", "none@example.com"])
    for who in ("plus@example.com", "doi@example.com"):
        act(env, mid, who, "open")
        act(env, mid, who, "click", link_url="https://example.com/offer")

    sent = api.get("/reports/recipients", params={"from_date": before})
    assert sent.headers["X-Items"] == "2"  # permission NONE gets no newsletter
    assert {r.findtext("contact/external_id") for r in xml(sent)} == {"11", "12"}

    clicks = api.get("/reports/clicks", params=[("eids", "11"), ("eids", "12")])
    assert clicks.headers["X-Items"] == "1"
    click = xml(clicks).find("click")
    assert click is not None
    assert click.findtext("contact/external_id") == "11"
    assert click.findtext("link_url") == "https://example.com/offer"
    assert click.findtext("mailing_id") == str(mid)
    # the anonymous open shows up only when asked for, and without a contact
    opens = api.get("/reports/opens", params={"exclude_anonymous_opens": "false"})
    assert opens.headers["X-Items"] == "2"
    assert [o.find("contact") is None for o in xml(opens)] == [False, True]
    assert xml(api.get("/reports/opens/count")).text == "1"

    assert api.get(f"/mailings/{mid}/name").text.endswith("<name>November news</name>")
    assert "<type>regular</type>" in api.get(f"/mailings/{mid}/type").text
    assert api.get("/mailings/999999/name").status_code == 404
    assert api.get("/reports/bounces/unique").status_code == 404


def test_half_open_windows_and_pages(env: dict[str, Any]) -> None:
    api = env["api"]
    emails = [f"p{i}@example.com" for i in range(5)]
    for i, email in enumerate(emails):
        create(env, email, {"external_id": str(100 + i)}, permission=5)
    send(env, "Five", emails)
    everything = api.get("/reports/recipients", params={"page_size": 2})
    assert (everything.headers["X-Pages"], everything.headers["X-Items"]) == ("3", "5")
    assert len(list(xml(everything))) == 2
    last = api.get("/reports/recipients", params={"page_size": 2, "page_index": 3})
    assert len(list(xml(last))) == 1
    assert api.get("/reports/recipients", params={"page_size": 1001}).status_code == 400
    assert api.get("/reports/recipients", params={"from_date": "soon"}).status_code == 400
    # to_date is exclusive, from_date inclusive: two adjacent windows see every row once
    now = int(time.time() * 1000) + 1
    first = api.get("/reports/recipients", params={"to_date": now}).headers["X-Items"]
    second = api.get("/reports/recipients", params={"from_date": now}).headers["X-Items"]
    assert (first, second) == ("5", "0")


def test_bounces_fire_the_webhook_and_the_policy_blocks(env: dict[str, Any]) -> None:
    api = env["api"]
    register_webhook(env, "bounce")
    env["control"].post("/_sim/bounce_policy", json={"hard": 2}).raise_for_status()
    create(env, "bouncy@example.com", {"external_id": "21"}, permission=4)
    first = send(env, "First", ["bouncy@example.com"])
    act(env, first, "bouncy@example.com", "soft_bounce")
    act(env, first, "bouncy@example.com", "hard_bounce", status_code="5.1.1")
    second = send(env, "Second", ["bouncy@example.com"], kind="trigger")
    act(env, second, "bouncy@example.com", "hard_bounce")
    idle(env)
    calls = env["receiver"].calls
    assert len(calls) == 3
    assert calls[1]["query"]["eid"] == "21" and calls[1]["query"]["token"] == "s3cr3t/+token"
    assert calls[1]["body"]["email"] == "bouncy@example.com"

    hard = api.get("/reports/bounces", params={"eids": "21", "type": "permanent"})
    assert hard.headers["X-Items"] == "2"
    b = xml(hard).find("bounce")
    assert b is not None and b.findtext("status_code") == "5.1.1"
    assert api.get("/reports/bounces", params={"type": "hard"}).status_code == 400
    blocks = api.get("/reports/blocks", params={"eids": "21"})
    block = xml(blocks).find("block")
    assert block is not None
    assert (block.findtext("reason"), block.findtext("new_status")) == ("bounce_policy", "blocked")
    c = next(c for c in state(env)["contacts"] if c["external_id"] == "21")
    assert c["bounce_blocked"]
    # a blocked address gets no further mailing
    r = env["control"].post(
        "/_sim/mailings", json={"name": "Third", "contacts": ["bouncy@example.com"]}
    )
    assert r.json()["sent"] == []
    env["control"].post("/_sim/bounce_policy", json={"hard": 3}).raise_for_status()


def test_unsubscribe_from_a_mailing_is_reported_with_it(env: dict[str, Any]) -> None:
    api = env["api"]
    create(env, "leaving@example.com", {"external_id": "31"}, permission=5)
    mid = send(env, "Leaving", ["leaving@example.com"])
    act(env, mid, "leaving@example.com", "click")
    act(env, mid, "leaving@example.com", "unsubscribe")
    u = xml(api.get("/reports/unsubscriptions", params={"eids": "31"})).find("unsubscription")
    assert u is not None and u.findtext("mailing_id") == str(mid) and u.findtext("source") == "link"
    # Maileon anonymizes the contact: its clicks are no longer tied to it
    assert api.get("/reports/clicks", params={"eids": "31"}).headers["X-Items"] == "0"
    r = env["control"].post(
        f"/_sim/mailings/{mid}/act", json={"contact": "nobody@example.com", "action": "open"}
    )
    assert r.status_code == 404


def test_ui_sends_and_acts_as_the_recipient(env: dict[str, Any]) -> None:
    create(env, "ui@example.com", {"external_id": "41"}, permission=5)
    c = next(c for c in state(env)["contacts"] if c["email"] == "ui@example.com")
    control = env["control"]
    r = control.post("/ui/mailings/send", data={"name": "UI news", "contact_id": str(c["id"])})
    assert r.status_code == 303
    page = control.get("/mailings")
    assert "UI news" in page.text and "ui@example.com" in page.text
    mailing_id = env["api"].get("/reports/recipients", params={"eids": "41"})
    mid_text = xml(mailing_id).findtext("recipient/mailing_id")
    r = control.post(
        "/ui/mailings/act",
        data={"mailing_id": mid_text, "contact_id": str(c["id"]), "action": "click"},
    )
    assert r.status_code == 303
    assert env["api"].get("/reports/clicks", params={"eids": "41"}).headers["X-Items"] == "1"
