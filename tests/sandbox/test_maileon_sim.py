"""The simulated Maileon over real HTTP (loopback), with a tiny receiver for its webhooks."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.maileon import DEFAULT_KEY, XML_TYPE, MaileonSim
from sandbox.server import ServerThread

JSON_TYPE = "application/vnd.maileon.api+json"


class Receiver:
    """Captures webhook calls; `/fail/...` answers 500."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

        async def hook(request: Request) -> Response:
            body = await request.body()
            self.calls.append(
                {
                    "path": request.url.path,
                    "raw_query": request.scope["query_string"].decode(),
                    "query": dict(request.query_params),
                    "body": json.loads(body) if body else None,
                    "content_type": request.headers.get("content-type"),
                }
            )
            status = 500 if request.url.path.startswith("/fail") else 200
            return Response("ok", status_code=status)

        self.app = Starlette(routes=[Route("/{rest:path}", hook, methods=["POST"])])


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str, Receiver]]:
    receiver = Receiver()
    sim = MaileonSim(
        time_scale=0.01,
        api_keys={
            DEFAULT_KEY: {"GET", "POST", "PUT", "DELETE"},
            "read-only-key-0001": {"GET"},
        },
    )
    sim_server = ServerThread(sim.app).start()
    receiver_server = ServerThread(receiver.app).start()
    yield sim_server.url, receiver_server.url, receiver
    sim_server.stop()
    receiver_server.stop()


@pytest.fixture
def env(servers: tuple[str, str, Receiver]) -> Iterator[dict[str, Any]]:
    url, hook_url, receiver = servers
    with httpx.Client(base_url=url, timeout=10) as control:
        control.post("/_sim/reset").raise_for_status()
        control.post("/_sim/reset_faults").raise_for_status()
        receiver.calls.clear()
        with httpx.Client(
            base_url=f"{url}/1.0", timeout=10, headers={"Authorization": basic(DEFAULT_KEY)}
        ) as api:
            yield {
                "api": api,
                "control": control,
                "hook_url": hook_url,
                "receiver": receiver,
                "url": url,
            }


def basic(key: str, colon: bool = False) -> str:
    raw = key + (":" if colon else "")
    return "Basic " + base64.b64encode(raw.encode()).decode()


def xml(response: httpx.Response) -> Element:
    root: Element = SafeET.fromstring(response.content)
    return root


def state(env: dict[str, Any], account: str = "demo") -> dict[str, Any]:
    data: dict[str, Any] = env["control"].get("/_sim/state", params={"account": account}).json()
    return data


def contact_state(env: dict[str, Any], email: str) -> dict[str, Any]:
    return next(c for c in state(env)["contacts"] if c["email"] == email)


def idle(env: dict[str, Any]) -> None:
    assert env["control"].post("/_sim/idle", params={"timeout": 5}).json()["idle"]


def create(
    env: dict[str, Any], email: str, body: dict[str, Any] | None = None, **params: Any
) -> httpx.Response:
    response: httpx.Response = env["api"].post(
        f"/contacts/email/{email}",
        params=params,
        content=json.dumps(body or {}),
        headers={"Content-Type": JSON_TYPE},
    )
    return response


def register_webhook(env: dict[str, Any], event: str, path: str = "/hook") -> int:
    body = {
        "url": env["hook_url"] + path,
        "event": event,
        "urlParams": [
            {"name": "email", "standard_contact_field": "email"},
            {"name": "eid", "standard_contact_field": "external_id"},
            {"name": "token", "custom_value": "s3cr3t/+token"},
        ],
        "customFields": [],
        "standardFields": ["email", "external_id"],
        "eventFields": ["timestamp", "msg_id"],
    }
    r = env["api"].post("/webhooks", json=body)
    assert r.status_code == 201
    return int(xml(r).text or "0")


def test_auth_both_basic_forms_401_403_404_405(env: dict[str, Any]) -> None:
    url = env["url"] + "/1.0/ping"
    assert httpx.get(url, headers={"Authorization": basic(DEFAULT_KEY)}).status_code == 200
    assert httpx.put(url, headers={"Authorization": basic(DEFAULT_KEY, True)}).status_code == 200
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith(XML_TYPE)
    assert xml(missing).findtext("message")
    assert httpx.get(url, headers={"Authorization": basic("nope-nope-nope")}).status_code == 401
    ro = {"Authorization": basic("read-only-key-0001")}
    assert httpx.get(url, headers=ro).status_code == 200
    assert httpx.post(url, headers=ro).status_code == 403
    assert env["api"].get("/no/such/thing").status_code == 404
    assert env["api"].patch("/ping").status_code == 405
    env["control"].post("/_sim/keys", json={"key": "temp-key-000001", "methods": ["GET"]})
    temp = {"Authorization": basic("temp-key-000001")}
    assert httpx.get(url, headers=temp).status_code == 200
    env["control"].post("/_sim/keys/revoke", json={"key": "temp-key-000001"})
    assert httpx.get(url, headers=temp).status_code == 401
    paths = [(r["method"], r["path"], r["status"]) for r in state(env)["requests"]]
    assert ("POST", "/1.0/ping", 403) not in paths  # rejected keys are not attributed
    assert ("PATCH", "/1.0/ping", 405) in paths


def test_create_contact_json_xml_and_sync_modes(env: dict[str, Any]) -> None:
    api = env["api"]
    api.post("/contacts/fields/custom/createdByPipedrive", params={"type": "boolean"})
    r = create(
        env,
        "max%2Bm@example.com",
        {
            "external_id": "42",
            "standard_fields": {"FIRSTNAME": "Max", "LASTNAME": "M"},
            "custom_fields": {"createdByPipedrive": True},
        },
        permission=2,
        sync_mode=1,
    )
    assert r.status_code == 201
    new_id = int(xml(r).text or "0")
    got = api.get(
        "/contacts/email/max+m@example.com",
        params=[("standard_field", "FIRSTNAME"), ("standard_field", "PERMISSION_STATUS")],
    )
    assert got.status_code == 200
    root = xml(got)
    assert root.findtext("id") == str(new_id)
    assert root.findtext("email") == "max+m@example.com"
    assert root.findtext("external_id") == "42"
    assert root.findtext("permission") == "2"
    fields = {f.findtext("name"): f.findtext("value") for f in root.iter("field")}
    assert fields == {
        "FIRSTNAME": "Max",
        "PERMISSION_STATUS": "available",
        "createdByPipedrive": "true",
    }

    xml_body = (
        b"<contact><external_id>7</external_id><standard_fields><field><name>FIRSTNAME"
        b"</name><value><![CDATA[Erika]]></value></field></standard_fields></contact>"
    )
    r = api.post(
        "/contacts/email/erika%40example.com", content=xml_body, headers={"Content-Type": XML_TYPE}
    )
    assert r.status_code == 201
    none_root = xml(api.get("/contacts/email/erika@example.com"))
    assert none_root.findtext("permission") == "1"
    # sync_mode=2 (default): existing contact untouched
    r = create(env, "erika@example.com", {"standard_fields": {"FIRSTNAME": "X"}}, permission=3)
    assert r.status_code == 200
    assert contact_state(env, "erika@example.com")["standard_fields"] == {"FIRSTNAME": "Erika"}
    # sync_mode=1: updated
    r = create(
        env,
        "erika@example.com",
        {"standard_fields": {"FIRSTNAME": "Eri"}},
        permission=3,
        sync_mode=1,
    )
    assert r.status_code == 201
    c = contact_state(env, "erika@example.com")
    assert (c["standard_fields"]["FIRSTNAME"], c["permission"], c["external_id"]) == ("Eri", 3, "7")
    # PUT moves the contact to a new address
    r = api.put(
        "/contacts/email/erika@example.com",
        json={"email": "erika2@example.com"},
        headers={"Content-Type": JSON_TYPE},
    )
    assert r.status_code == 201
    assert api.get("/contacts/email/erika@example.com").status_code == 404
    assert api.get("/contacts/externalid/7").text.count("<contact>") == 1
    assert (
        api.put(
            "/contacts/email/erika2@example.com",
            json={"email": "max+m@example.com"},
            headers={"Content-Type": JSON_TYPE},
        ).status_code
        == 409
    )
    assert api.delete("/contacts/email/erika2@example.com").status_code == 200
    assert api.get("/contacts/email/erika2@example.com").status_code == 404


def test_contact_validation_errors(env: dict[str, Any]) -> None:
    r = create(env, "not-an-email")
    assert r.status_code == 400
    assert xml(r).findtext("message") == "invalid email"
    r = create(env, "a@example.com", {"custom_fields": {"mysteryField": "x"}})
    assert r.status_code == 400
    assert "mysteryField" in (xml(r).findtext("message") or "")
    env["api"].post("/contacts/fields/custom/dealCount", params={"type": "integer"})
    r = create(env, "a@example.com", {"custom_fields": {"dealCount": "many"}})
    assert r.status_code == 400 and "dealCount" in r.text
    assert create(env, "a@example.com", {"standard_fields": {"NICKNAME": "x"}}).status_code == 400
    long = create(env, "a@example.com", {"standard_fields": {"FIRSTNAME": "x" * 256}})
    assert long.status_code == 400
    assert create(env, "a@example.com", permission=9).status_code == 400
    assert state(env)["contacts"] == []


def test_permission_downgrade_protection_and_doi_skip(env: dict[str, Any]) -> None:
    create(env, "doi@example.com", permission=4)
    create(env, "doi@example.com", permission=1, sync_mode=1)
    c = contact_state(env, "doi@example.com")
    assert c["permission"] == 4
    assert any(h["event"] == "permission_downgrade_ignored" for h in c["history"])
    create(env, "doi@example.com", permission=5, sync_mode=1)
    assert contact_state(env, "doi@example.com")["permission"] == 5
    create(env, "soi@example.com", permission=2)
    create(env, "soi@example.com", permission=1, sync_mode=1)
    assert contact_state(env, "soi@example.com")["permission"] == 1


def test_doi_pending_confirm_fires_webhook_with_plus_quirk(env: dict[str, Any]) -> None:
    register_webhook(env, "doi")
    register_webhook(env, "unsubscription", "/other")
    r = create(
        env,
        "max%2Bdoi@example.com",
        {"external_id": "p 1"},
        permission=1,
        doi="true",
        doiplus="true",
        doimailing="doi-key-1",
    )
    assert r.status_code == 201
    c = contact_state(env, "max+doi@example.com")
    assert (c["doi_pending"], c["doi_mailing"], c["doiplus"], c["permission"]) == (
        True,
        "doi-key-1",
        True,
        1,
    )
    assert not c["doi_mailing_unknown"]
    create(env, "other@example.com", doi="true", doimailing="nope")
    assert contact_state(env, "other@example.com")["doi_mailing_unknown"]

    r = env["control"].post("/_sim/contacts/confirm_doi", json={"email": "max+doi@example.com"})
    assert r.status_code == 200
    idle(env)
    c = contact_state(env, "max+doi@example.com")
    assert (c["permission"], c["doi_pending"]) == (5, False)
    calls = env["receiver"].calls
    assert len(calls) == 1 and calls[0]["path"] == "/hook"
    call = calls[0]
    assert "email=max+doi%40example.com" in call["raw_query"]  # '+' left unencoded
    assert call["query"]["email"] == "max doi@example.com"  # ...so receivers see a space
    assert call["query"]["eid"] == "p 1"
    assert call["query"]["token"] == "s3cr3t/+token"
    assert call["content_type"] == "application/json"
    assert call["body"]["email"] == "max+doi@example.com"
    assert call["body"]["external_id"] == "p 1"
    assert len(call["body"]["timestamp"]) == 19
    delivery = state(env)["deliveries"][0]
    assert (delivery["event"], delivery["state"], delivery["status"]) == ("doi", "delivered", 200)
    assert (
        env["control"]
        .post("/_sim/contacts/confirm_doi", json={"email": "max+doi@example.com"})
        .status_code
        == 409
    )


def test_unsubscribe_fires_webhook_anonymizes_and_reports(env: dict[str, Any]) -> None:
    api = env["api"]
    register_webhook(env, "unsubscription")
    create(env, "gone@example.com", {"external_id": "9"}, permission=4)
    before = int(time.time() * 1000) - 1
    r = api.delete("/contacts/email/gone%40example.com/unsubscribe", params={"reason": "other|bye"})
    assert r.status_code == 204
    idle(env)
    call = env["receiver"].calls[0]
    assert call["query"] == {"email": "gone@example.com", "eid": "9", "token": "s3cr3t/+token"}
    assert call["body"]["email"] == "gone@example.com" and call["body"]["msg_id"] is None
    assert api.get("/contacts/email/gone@example.com").status_code == 404
    assert "<contact>" not in api.get("/contacts/externalid/9").text
    anon = next(c for c in state(env)["contacts"] if c["external_id"] == "9")
    assert anon["anonymized"] and anon["unsubscribed"] and anon["email"] is None

    report = api.get("/reports/unsubscriptions", params={"from_date": before})
    assert report.headers["X-Items"] == "1"
    u = xml(report).find("unsubscription")
    assert u is not None
    assert u.findtext("contact/email") == "gone@example.com"
    assert u.findtext("contact/external_id") == "9"
    assert u.findtext("source") == "api"
    later = api.get("/reports/unsubscriptions", params={"from_date": int(time.time() * 1000) + 5})
    assert later.headers["X-Items"] == "0"
    assert xml(api.get("/reports/unsubscriptions/count")).text == "1"

    # re-adding the address without explicit permission keeps it unsubscribed
    create(env, "gone@example.com", permission=1)
    assert contact_state(env, "gone@example.com")["unsubscribed"] is True
    api.delete("/contacts/email/gone@example.com")
    create(env, "gone@example.com", permission=2)
    again = contact_state(env, "gone@example.com")
    assert again["unsubscribed"] is False
    assert any(h["event"] == "resubscribed" for h in again["history"])


def test_link_unsubscribe_without_webhooks_is_only_in_report(env: dict[str, Any]) -> None:
    register_webhook(env, "unsubscription")
    create(env, "quiet@example.com", {"external_id": "5"}, permission=2)
    r = env["control"].post(
        "/_sim/contacts/unsubscribe", json={"email": "quiet@example.com", "fire_webhooks": False}
    )
    assert r.status_code == 200
    idle(env)
    assert env["receiver"].calls == []
    u = xml(env["api"].get("/reports/unsubscriptions", params={"eids": "5"})).find("unsubscription")
    assert u is not None and u.findtext("source") == "link"


def test_synchronize_reimport_and_override_permission(env: dict[str, Any]) -> None:
    api = env["api"]
    create(env, "old@example.com", permission=2)
    create(env, "unsub@example.com", permission=2)
    api.delete("/contacts/email/unsub@example.com/unsubscribe")

    def contact(email: str, first: str = "") -> str:
        std = (
            (
                f"<standard_fields><field><name>FIRSTNAME</name><value>{first}</value></field>"
                "</standard_fields>"
            )
            if first
            else ""
        )
        return f"<contact><email>{email}</email>{std}</contact>"

    body = (
        "<contacts>"
        + contact("old@example.com", "Olga")
        + contact("new@example.com")
        + contact("unsub@example.com")
        + contact("bad-email")
        + contact("new@example.com")
        + "</contacts>"
    )
    params = {
        "permission": 3,
        "sync_mode": 1,
        "reimport_unsubscribed_contacts": "false",
        "override_permission": "false",
    }
    rejected = api.post(
        "/contacts", params=params, content=body, headers={"Content-Type": XML_TYPE}
    )
    assert rejected.status_code == 400
    assert len(state(env)["contacts"]) == 2  # nothing applied
    r = api.post(
        "/contacts",
        params={**params, "ignore_invalid_contacts": "true"},
        content=body,
        headers={"Content-Type": XML_TYPE},
    )
    assert r.status_code == 200
    report = xml(r)
    counts = {el.tag: el.text for el in report if el.tag.startswith("count")}
    assert counts == {
        "count_contacts": "5",
        "count_new_contacts": "1",
        "count_existing_contacts": "1",
        "count_unsubscribed_contacts": "1",
        "count_invalid_contacts": "2",
    }
    assert report.findtext("success") == "false"
    codes = {
        (el.findtext("email"), el.find("error").get("code"))  # type: ignore[union-attr]
        for el in report.iter("invalid_contact")
    }
    assert codes == {("bad-email", "3"), ("new@example.com", "5")}
    old = contact_state(env, "old@example.com")
    assert (old["permission"], old["standard_fields"]) == (2, {"FIRSTNAME": "Olga"})
    assert contact_state(env, "new@example.com")["permission"] == 3
    assert api.get("/contacts/email/unsub@example.com").status_code == 404
    # defaults: reimport_unsubscribed_contacts=true, override_permission=true
    r = api.post(
        "/contacts",
        params={"permission": 6, "sync_mode": 1},
        content="<contacts>"
        + contact("old@example.com")
        + contact("unsub@example.com")
        + "</contacts>",
        headers={"Content-Type": XML_TYPE},
    )
    assert xml(r).findtext("count_new_contacts") == "1"
    assert contact_state(env, "old@example.com")["permission"] == 6
    assert contact_state(env, "unsub@example.com")["unsubscribed"] is False


def test_custom_fields(env: dict[str, Any]) -> None:
    api = env["api"]
    assert (
        api.post(
            "/contacts/fields/custom/createdByPipedrive", params={"type": "boolean"}
        ).status_code
        == 201
    )
    assert (
        api.post(
            "/contacts/fields/custom/createdByPipedrive", params={"type": "boolean"}
        ).status_code
        == 409
    )
    assert api.post("/contacts/fields/custom/ab").status_code == 400
    assert api.post("/contacts/fields/custom/FIRSTNAME").status_code == 400
    assert api.post("/contacts/fields/custom/external_id").status_code == 400
    assert api.post("/contacts/fields/custom/color", params={"type": "none"}).status_code == 400
    assert api.post("/contacts/fields/custom/color").status_code == 201
    fields = {
        el.findtext("name"): el.findtext("type")
        for el in xml(api.get("/contacts/fields/custom")).iter("custom_field")
    }
    assert fields == {"createdByPipedrive": "boolean", "color": "string"}


TYPE_XML = """<transaction_type><name>pipedrive_deal_updated</name>
<description>d</description><storeOnly>false</storeOnly><attributes>
<attribute><name>deal_id</name><type>integer</type><required>true</required></attribute>
<attribute><name>deal_title</name><type>string</type><required>false</required></attribute>
<attribute><name>deal_value</name><type>double</type><required>false</required></attribute>
<attribute><name>won_time</name><type>timestamp</type><required>false</required></attribute>
</attributes></transaction_type>"""


def create_type(env: dict[str, Any], body: str = TYPE_XML) -> httpx.Response:
    response: httpx.Response = env["api"].post(
        "/transactions/types", content=body, headers={"Content-Type": XML_TYPE}
    )
    return response


def test_transaction_types(env: dict[str, Any]) -> None:
    api = env["api"]
    r = create_type(env)
    assert r.status_code == 201
    type_id = int(r.text)
    assert create_type(env).status_code == 409
    got = api.get("/transactions/types/pipedrive_deal_updated")
    assert got.status_code == 200 and xml(got).findtext("id") == str(type_id)
    attrs = {
        a.findtext("name"): (a.findtext("type"), a.findtext("required"))
        for a in xml(got).iter("attribute")
    }
    assert attrs["deal_id"] == ("integer", "true")
    assert api.get("/transactions/types/nope").status_code == 404
    assert create_type(env, TYPE_XML.replace("pipedrive_deal_updated", "1bad")).status_code == 400
    bad_attr = TYPE_XML.replace("pipedrive_deal_updated", "x_ok").replace(">double<", ">money<")
    assert create_type(env, bad_attr).status_code == 400
    r = api.post(
        "/transactions/types",
        json={
            "name": "pipedrive.deal_added",
            "attributes": [{"name": "deal_id", "type": "integer", "required": True}],
        },
    )
    assert r.status_code == 201
    listing = api.get("/transactions/types", params={"page_size": 1})
    assert listing.headers["X-Items"] == "2" and listing.headers["X-Pages"] == "2"
    assert api.delete(f"/transactions/types/{type_id}").status_code == 200
    assert api.get(f"/transactions/types/{type_id}").status_code == 404


def test_transactions_queued_import_and_rejections(env: dict[str, Any]) -> None:
    api = env["api"]
    type_id = int(create_type(env).text)
    create(env, "known@example.com", {"external_id": "11"})
    items = [
        {
            "typeName": "pipedrive_deal_updated",
            "contact": {"email": "known@example.com"},
            "content": {
                "deal_id": 1,
                "deal_title": "<b>Big</b>",
                "deal_value": 9.5,
                "won_time": "2024-05-02 10:15:00",
            },
        },
        {"type": type_id, "contact": {"email": "unknown@example.com"}, "content": {"deal_id": 2}},
        {"typeName": "nope", "contact": {"email": "known@example.com"}, "content": {}},
        {
            "typeName": "pipedrive_deal_updated",
            "contact": {"external_id": "11"},
            "content": {"deal_title": "no id"},
        },
        {
            "typeName": "pipedrive_deal_updated",
            "contact": {"email": "known@example.com"},
            "content": {"deal_id": 3, "colour": "red"},
        },
        {
            "typeName": "pipedrive_deal_updated",
            "import": {
                "contact": {"email": "imp@example.com", "external_id": "12", "permission": 1}
            },
            "content": {"deal_id": 4},
        },
    ]
    r = api.post("/transactions", json=items)
    assert r.status_code == 201
    reports = r.json()["reports"]
    assert [rep["queued"] for rep in reports] == [True, False, False, False, False, True]
    assert reports[0]["contact"]["external_id"] == "11"
    assert reports[1]["message"] == "contact not found"
    assert reports[2]["message"] == "transaction type not found"
    assert "deal_id" in reports[3]["message"] and "colour" in reports[4]["message"]
    imported = contact_state(env, "imp@example.com")
    assert (imported["permission"], imported["external_id"]) == (1, "12")
    assert reports[5]["contact"]["id"] == imported["id"]
    stored = state(env)["transactions"]
    assert [t["content"]["deal_id"] for t in stored] == [1, 4]

    strict = api.post(
        "/transactions", params={"ignore_invalid_transactions": "false"}, json=items[:2]
    )
    assert strict.status_code == 400
    assert len(state(env)["transactions"]) == 2
    xml_post = api.post("/transactions", content=b"<x/>", headers={"Content-Type": XML_TYPE})
    assert xml_post.status_code == 415
    recent = api.get("/transactions", params={"type_id": type_id, "count": 1}).json()
    assert recent[0]["tx"]["deal_id"] == 4


def test_fault_429_with_retry_after_and_outage(env: dict[str, Any]) -> None:
    control, api = env["control"], env["api"]
    control.post(
        "/_sim/faults",
        json={"path_prefix": "/1.0/contacts", "status": 429, "retry_after": 3, "count": 1},
    )
    assert api.get("/ping").status_code == 200
    r = api.get("/contacts/count")
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert api.get("/contacts/count").status_code == 200
    control.post("/_sim/down", json={"down": True})
    assert api.get("/ping").status_code == 503
    assert control.get("/_sim/state").status_code == 200  # control surface exempt
    control.post("/_sim/reset_faults")
    assert api.get("/ping").status_code == 200


def test_webhook_retries_then_fails_and_webhook_crud(env: dict[str, Any]) -> None:
    api = env["api"]
    hook_id = register_webhook(env, "unsubscription", "/fail")
    assert api.post("/webhooks", json={"url": "ftp://x", "event": "doi"}).status_code == 400
    assert (
        api.post("/webhooks", json={"url": "https://x.example", "event": "open"}).status_code == 400
    )
    listed = api.get("/webhooks").json()
    assert listed[0]["id"] == hook_id and listed[0]["event"] == "unsubscription"
    create(env, "retry@example.com", permission=2)
    api.delete("/contacts/email/retry@example.com/unsubscribe")
    idle(env)
    delivery = state(env)["deliveries"][0]
    assert delivery["state"] == "failed" and len(delivery["attempts"]) == 3
    assert len(env["receiver"].calls) == 3
    assert api.delete(f"/webhooks/{hook_id}").status_code == 200
    assert api.get(f"/webhooks/{hook_id}").status_code == 404


def test_contact_paging_and_page_size_limit(env: dict[str, Any]) -> None:
    api = env["api"]
    for i in range(5):
        create(env, f"p{i}@example.com")
    r = api.get("/contacts", params={"page_index": 2, "page_size": 2})
    assert r.status_code == 200
    assert (r.headers["X-Pages"], r.headers["X-Items"]) == ("3", "5")
    assert [c.findtext("email") for c in xml(r)] == ["p2@example.com", "p3@example.com"]
    links = r.headers.get_list("link")
    assert any('rel="next"' in link for link in links) and any('rel="prev"' in x for x in links)
    big = api.get("/contacts", params={"page_size": 200000})
    assert big.status_code == 400
    assert xml(big).findtext("message") == "page_size must not exceed 1000 but was 200000"
    assert xml(api.get("/contacts/count")).text == "5"


def test_accounts_are_separate(env: dict[str, Any]) -> None:
    env["control"].post("/_sim/keys", json={"key": "other-key-000001", "account": "acme"})
    create(env, "shared@example.com")
    other = {"Authorization": basic("other-key-000001")}
    url = env["url"] + "/1.0/contacts/email/shared@example.com"
    assert httpx.get(url, headers=other).status_code == 404
    assert httpx.post(url, headers=other).status_code == 201
    assert [c["email"] for c in state(env, "acme")["contacts"]] == ["shared@example.com"]


def test_ui_escapes_masks_and_acts(env: dict[str, Any]) -> None:
    register_webhook(env, "doi")
    create(
        env, "ui@example.com", {"standard_fields": {"FIRSTNAME": "<script>x</script>"}}, doi="true"
    )
    page = env["control"].get("/")
    assert page.status_code == 200 and "Simulated Maileon" in page.text
    assert "<script>x</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "s3cr3t" not in page.text and "token=***" in page.text
    assert "Confirm DOI" in page.text
    contact_id = contact_state(env, "ui@example.com")["id"]
    r = env["control"].post(
        "/ui/confirm_doi", data={"account": "demo", "contact_id": str(contact_id)}
    )
    assert r.status_code == 303
    idle(env)
    assert contact_state(env, "ui@example.com")["permission"] == 4
    assert len(env["receiver"].calls) == 1
    page = env["control"].get("/")
    assert "s3cr3t" not in page.text


@pytest.mark.parametrize("permission", [1, 2, 3, 4, 5, 6])
def test_existing_contacts_of_any_permission_and_what_a_create_does_to_them(
    env: dict[str, Any], permission: int
) -> None:
    r = env["control"].post(
        "/_sim/contacts",
        json={
            "email": "pre@example.com",
            "permission": permission,
            "external_id": "shop-7",
            "standard_fields": {"CITY": "Bonn"},
            "custom_fields": {"shop": "yes"},
        },
    )
    assert r.status_code == 200, r.text
    assert contact_state(env, "pre@example.com")["permission"] == permission
    assert (
        env["control"].post("/_sim/contacts", json={"email": "pre@example.com"}).status_code == 409
    )
    env["api"].put(
        "/contacts/email/pre@example.com",
        content=b'{"standard_fields": {"CITY": "Koeln"}}',
        headers={"Content-Type": JSON_TYPE},
    )
    assert contact_state(env, "pre@example.com")["permission"] == permission  # PUT leaves it
    assert create(env, "pre@example.com", sync_mode=2).status_code == 200  # ignored
    assert contact_state(env, "pre@example.com")["permission"] == permission
    create(env, "pre@example.com", sync_mode=1)  # no permission: the default NONE applies
    assert contact_state(env, "pre@example.com")["permission"] == (
        permission if permission in (4, 5) else 1
    )


def test_control_contact_input_is_checked(env: dict[str, Any]) -> None:
    for body in (
        {"email": "nope"},
        {"email": "a@example.com", "permission": 7},
        {"email": "a@example.com", "permission": "2"},
        {"email": "a@example.com", "custom_fields": []},
    ):
        assert env["control"].post("/_sim/contacts", json=body).status_code == 400, body


def test_doi_mailings_and_their_keys(env: dict[str, Any]) -> None:
    env["control"].post("/_sim/doi_keys", json={"key": "kh68gb7"})
    r = env["api"].get("/mailings/filter/types", params={"types": "doi"})
    assert r.status_code == 200 and r.headers["x-items"] == "2"
    ids = [m.findtext("id") for m in xml(r).iter("mailing")]
    keys = {xml(env["api"].get(f"/mailings/{i}/settings/doi_key")).text for i in ids}
    assert keys == {"doi-key-1", "kh68gb7"}
    assert env["api"].get("/mailings/999999/settings/doi_key").status_code == 404
    assert env["api"].get("/mailings/filter/types", params={"types": "bogus"}).status_code == 400


def test_an_omitted_field_is_kept_and_one_sent_empty_is_cleared(env: dict[str, Any]) -> None:
    """Reference §2.3: "Remove the element … or set its value to "" to clear" (JSON), and the
    same for a synchronize (XML); a null custom value is refused."""
    api = env["api"]
    assert api.post("/contacts/fields/custom/color").status_code == 201
    body = {"standard_fields": {"CITY": "Bonn", "LASTNAME": "L"}, "custom_fields": {"color": "red"}}
    assert create(env, "keep@example.com", body, permission="1").status_code == 201
    put = {"standard_fields": {"LASTNAME": "L2"}, "custom_fields": {}}
    headers = {"Content-Type": JSON_TYPE}
    r = api.put("/contacts/email/keep@example.com", content=json.dumps(put), headers=headers)
    assert r.status_code < 300
    kept = contact_state(env, "keep@example.com")
    assert kept["standard_fields"]["CITY"] == "Bonn" and kept["custom_fields"]["color"] == "red"
    put = {"standard_fields": {"CITY": ""}, "custom_fields": {"color": ""}}
    r = api.put("/contacts/email/keep@example.com", content=json.dumps(put), headers=headers)
    assert r.status_code < 300
    cleared = contact_state(env, "keep@example.com")
    assert "CITY" not in cleared["standard_fields"] and "color" not in cleared["custom_fields"]
    assert cleared["standard_fields"]["LASTNAME"] == "L2"
    null = json.dumps({"custom_fields": {"color": None}})
    r = api.put("/contacts/email/keep@example.com", content=null, headers=headers)
    assert r.status_code == 400

    sync = (
        "<contacts><contact><email>keep@example.com</email><standard_fields>"
        "<field><name>CITY</name><value>Köln</value></field></standard_fields>"
        "<custom_fields><field><name>color</name><value>blue</value></field></custom_fields>"
        "</contact></contacts>"
    )
    params = {"sync_mode": "1", "ignore_invalid_contacts": "true"}
    headers = {"Content-Type": XML_TYPE}
    assert api.post("/contacts", params=params, content=sync, headers=headers).status_code == 200
    assert contact_state(env, "keep@example.com")["custom_fields"]["color"] == "blue"
    sync = (
        "<contacts><contact><email>keep@example.com</email><standard_fields>"
        "<field><name>CITY</name><value/></field></standard_fields><custom_fields>"
        "<field><name>color</name><value></value></field></custom_fields></contact></contacts>"
    )
    assert api.post("/contacts", params=params, content=sync, headers=headers).status_code == 200
    cleared = contact_state(env, "keep@example.com")
    assert "CITY" not in cleared["standard_fields"] and "color" not in cleared["custom_fields"]
    assert cleared["standard_fields"]["LASTNAME"] == "L2"


def test_a_transaction_type_only_gains_attributes_and_a_transaction_is_found_by_its_id(
    env: dict[str, Any],
) -> None:
    api = env["api"]
    type_id = int(create_type(env).text)
    without_old = TYPE_XML.replace(
        "<attribute><name>won_time</name><type>timestamp</type><required>false</required>"
        "</attribute>",
        "",
    )
    put = {"Content-Type": XML_TYPE}
    assert (
        api.put(f"/transactions/types/{type_id}", content=without_old, headers=put).status_code
        == 400
    )
    with_ids = TYPE_XML.replace("<attribute><name>deal_id", "<attribute><id>1</id><name>deal_id")
    assert (
        api.put(f"/transactions/types/{type_id}", content=with_ids, headers=put).status_code == 400
    )
    added = TYPE_XML.replace(
        "</attributes>",
        "<attribute><name>transaction_id</name><type>string</type><required>false</required>"
        "</attribute></attributes>",
    )
    assert api.put(f"/transactions/types/{type_id}", content=added, headers=put).status_code == 200
    names = [
        a.findtext("name") for a in xml(api.get(f"/transactions/types/{type_id}")).iter("attribute")
    ]
    assert names == ["deal_id", "deal_title", "deal_value", "won_time", "transaction_id"]

    lookup = f"/transactions/{type_id}/transaction_id/ev-1"
    assert api.get(lookup).status_code == 404
    tx = [
        {
            "typeName": "pipedrive_deal_updated",
            "import": {"contact": {"email": "t@example.com", "permission": 1}},
            "content": {"deal_id": 5, "transaction_id": "ev-1"},
        }
    ]
    r = api.post("/transactions", json=tx)
    assert r.status_code == 201 and r.json()["reports"][0]["transaction_id"] == "ev-1"
    assert api.get(lookup).json() == {"deal_id": 5, "transaction_id": "ev-1"}
    assert api.get("/transactions/pipedrive_deal_updated/transaction_id/ev-1").status_code == 404


def test_synchronize_refuses_more_than_a_thousand_contacts(env: dict[str, Any]) -> None:
    api = env["api"]

    def body(count: int) -> str:
        contacts = "".join(
            f"<contact><email>c{n}@example.com</email></contact>" for n in range(count)
        )
        return f"<contacts>{contacts}</contacts>"

    params = {"permission": 1, "sync_mode": 2, "ignore_invalid_contacts": "true"}
    headers = {"Content-Type": XML_TYPE}
    r = api.post("/contacts", params=params, content=body(1001), headers=headers)
    assert r.status_code == 400 and "1000" in r.text
    assert not state(env)["contacts"]
    r = api.post("/contacts", params=params, content=body(1000), headers=headers)
    assert r.status_code == 200 and len(state(env)["contacts"]) == 1000


def test_digits_outside_ascii_urls_urlsplit_refuses_and_non_json_numbers_are_4xx(
    env: dict[str, Any],
) -> None:
    """Maileon answers these with a 4xx; `isdigit()` takes "²" (which `int()` refuses),
    `int()` refuses 5000 digits, `urlsplit` raises on `http://[::1`, Python's JSON reads NaN."""
    api = env["api"]
    assert api.get("/mailings/²/name").status_code == 404
    assert api.get("/reports/recipients", params={"mailing_id": "٣"}).status_code == 400
    r = api.get("/contacts", params={"page_size": "9" * 5000})
    assert r.status_code == 400 and "page_size must be an integer" in r.text
    assert api.get("/webhooks/²").status_code == 404
    for url in ("http://[::1", "http://x.example:99999/"):
        r = api.post("/webhooks", json={"url": url, "event": "doi"})
        assert r.status_code == 400 and "url must be an http(s) URL" in r.text
    r = api.post(
        "/transactions/types",
        content='{"name": "t", "attributes": [], "archivingDuration": NaN}',
        headers={"Content-Type": JSON_TYPE},
    )
    assert r.status_code == 400 and "invalid JSON" in r.text
    create(env, "known@example.com")
    r = api.post("/transactions", json=[{"type": "²", "contact": {"email": "known@example.com"}}])
    assert r.status_code == 201 and r.json()["reports"][0]["queued"] is False
    r = env["control"].post("/_sim/mailings/²/act", json={"contact": "known@example.com"})
    assert r.status_code == 404
