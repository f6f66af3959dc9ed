"""The simulated Pipedrive over real HTTP: OAuth, API, webhook delivery, faults, UI."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.pipedrive import PipedriveSim
from sandbox.server import ServerThread
from tests.waiting import let_time_pass

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
CALLBACK = "http://127.0.0.1:9/callback"


@dataclass
class Receiver:
    """Captures webhook deliveries; answers with scripted statuses, then `default`."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default: int = 200

    async def hook(self, request: Request) -> Response:
        self.calls.append({"headers": dict(request.headers), "body": await request.json()})
        return Response(status_code=self.statuses.pop(0) if self.statuses else self.default)

    def bodies(self) -> list[dict[str, Any]]:
        return [c["body"] for c in self.calls]


def by_action(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """The bodies received, by their action: deliveries may overtake each other, as
    Pipedrive's do (each event is delivered on its own)."""
    bodies = receiver.bodies()
    found = {str(b["meta"]["action"]): b for b in bodies}
    assert len(found) == len(bodies), [b["meta"]["action"] for b in bodies]
    return found


@dataclass
class Env:
    sim: PipedriveSim
    http: httpx.Client
    receiver: Receiver

    def idle(self) -> None:
        assert self.http.post("/_sim/idle", params={"timeout": 10}).json() == {"idle": True}


def _start(time_scale: float = 0.01) -> tuple[PipedriveSim, ServerThread]:
    sim = PipedriveSim(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, time_scale=time_scale, seed_demo=False
    )
    server = ServerThread(sim.app).start()
    sim.base_url = server.url
    return sim, server


@pytest.fixture
def env() -> Iterator[Env]:
    receiver = Receiver()
    rserver = ServerThread(
        Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    ).start()
    receiver.url = rserver.url + "/hook"
    sim, server = _start()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield Env(sim, http, receiver)
    server.stop()
    rserver.stop()


def install(http: httpx.Client, user_id: int = 501, state: str | None = "st-1") -> dict[str, Any]:
    form = {
        "client_id": CLIENT_ID,
        "redirect_uri": CALLBACK,
        "user_id": str(user_id),
        "action": "allow",
    }
    if state:
        form["state"] = state
    r = http.post("/oauth/authorize", data=form)
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    r = http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": CALLBACK,
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"authorization": f"Bearer {token}"}


def add_hook(env: Env, tokens: dict[str, Any], **body: Any) -> dict[str, Any]:
    body = {
        "subscription_url": env.receiver.url,
        "event_action": "*",
        "event_object": "person",
        "name": "test",
        **body,
    }
    r = env.http.post("/api/v1/webhooks", json=body, headers=bearer(tokens))
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


# ---------------------------------------------------------------------------------------- OAuth


def test_oauth_install_refresh_and_revoke(env: Env) -> None:
    page = env.http.get(
        "/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": "abc"},
    )
    assert page.status_code == 200
    assert "Allow and install" in page.text and "Cancel" in page.text
    assert "contacts:full" in page.text and "Sam Sales" in page.text
    # the consent screen names the app as listed, not its client id
    assert "The app <strong>Maileon for Pipedrive</strong> asks" in page.text
    assert CLIENT_ID not in page.text.split("<form")[0]

    r = env.http.post(
        "/oauth/authorize",
        data={"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": "abc", "action": "cancel"},
    )
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query) == {
        "error": ["user_denied"],
        "state": ["abc"],
    }

    tokens = install(env.http)
    assert tokens["access_token"].startswith("v1u:")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3599
    assert tokens["scope"] == "base,admin,contacts:full,deals:read"
    assert tokens["api_domain"] == env.sim.base_url
    assert tokens["refresh_token"].startswith("1001:501:")

    me = env.http.get("/api/v1/users/me", headers=bearer(tokens))
    assert me.status_code == 200
    data = me.json()["data"]
    assert (data["id"], data["company_id"], data["company_domain"]) == (501, 1001, "acme")
    assert "is_admin" not in data  # removed from the user schema in 2022
    assert {(a["app"], a["admin"]) for a in data["access"]} == {
        ("sales", True),
        ("global", True),
        ("account_settings", True),
    }
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(me.headers)

    refreshed = env.http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    assert refreshed["refresh_token"] == tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]
    for tok in (tokens, refreshed):  # the old access token stays valid until it expires
        assert env.http.get("/api/v1/users/me", headers=bearer(tok)).status_code == 200

    r = env.http.post(
        "/oauth/revoke",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
    )
    assert r.status_code == 200
    r = env.http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "message": "Invalid grant: refresh token is invalid",
        "error": "invalid_grant",
    }
    assert env.http.get("/api/v1/users/me", headers=bearer(refreshed)).status_code == 401
    state = env.http.get("/_sim/state").json()
    assert state["refresh_calls"] == 2 and state["token_calls"] == 3
    assert {"method": "GET", "path": "/api/v1/users/me", "status": 200, "user_id": 501} in [
        {k: v for k, v in req.items() if k != "time"} for req in state["requests"]
    ]


def test_oauth_errors(env: Env) -> None:
    r = env.http.get("/oauth/authorize", params={"client_id": "nope", "redirect_uri": CALLBACK})
    assert r.status_code == 400
    tokens = install(env.http, state=None)  # registers CALLBACK; no state is fine
    r = env.http.get(
        "/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": "http://127.0.0.1:9/other"},
    )
    assert r.status_code == 400

    r = env.http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in r.json()["message"]
    r = env.http.post(
        "/oauth/token",
        auth=(CLIENT_ID, "wrong"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "message": "Invalid client: client is invalid",
        "error": "invalid_client",
    }
    # credentials in the body also work
    r = env.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert r.status_code == 200

    r = env.http.post(
        "/oauth/authorize",
        data={
            "client_id": CLIENT_ID,
            "redirect_uri": CALLBACK,
            "action": "allow",
            "user_id": "601",
        },
    )
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    first = env.http.post("/oauth/token", auth=(CLIENT_ID, CLIENT_SECRET), data=exchange)
    assert first.status_code == 200 and first.json()["refresh_token"].startswith("2002:601:")
    again = env.http.post("/oauth/token", auth=(CLIENT_ID, CLIENT_SECRET), data=exchange)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # codes expire after 300 s x time_scale
    _, server = _start(time_scale=0.0005)
    try:
        with httpx.Client(base_url=server.url) as http:
            r = http.post(
                "/oauth/authorize",
                data={"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "action": "allow"},
            )
            code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
            let_time_pass(0.2)  # the code's 0.15 s lifetime
            r = http.post(
                "/oauth/token",
                auth=(CLIENT_ID, CLIENT_SECRET),
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
            )
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    finally:
        server.stop()


def test_expired_tokens_answer_401(env: Env) -> None:
    tokens = install(env.http)
    unauthorized = {
        "success": False,
        "error": "Invalid token: access_token is invalid",
        "errorCode": 401,
    }
    r = env.http.get("/api/v2/persons")
    assert r.status_code == 401 and r.json() == unauthorized
    assert env.http.get("/api/v2/persons", headers=bearer(tokens)).status_code == 200
    env.http.post("/_sim/expire_tokens")
    r = env.http.get("/api/v2/persons", headers=bearer(tokens))
    assert r.status_code == 401 and r.json() == unauthorized

    env.http.post("/_sim/token_lifetime", json={"seconds": 0.3})
    fresh = env.http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    assert env.http.get("/api/v2/persons", headers=bearer(fresh)).status_code == 200
    let_time_pass(0.35)  # the token's 0.3 s lifetime
    assert env.http.get("/api/v2/persons", headers=bearer(fresh)).status_code == 401

    env.http.post("/_sim/revoke", json={"user_id": 501})
    r = env.http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# ------------------------------------------------------------------------------------- webhooks


def test_webhook_create_list_delete_and_errors(env: Env) -> None:
    ada, sam, gina = install(env.http), install(env.http, 502), install(env.http, 601)
    r = env.http.post("/api/v1/webhooks", json={"event_action": "create"}, headers=bearer(ada))
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error" and body["success"] is False
    assert {"subscription_url", "event_object"} <= set(body["errors"])
    r = env.http.post(
        "/api/v1/webhooks",
        headers=bearer(ada),
        json={"subscription_url": "not a url", "event_action": "added", "event_object": "person"},
    )
    assert set(r.json()["errors"]) == {"subscription_url", "event_action"}  # added is v1-only

    hook = add_hook(env, ada, http_auth_user="u", http_auth_password="p", event_action="create")
    assert hook["version"] == "2.0" and hook["type"] == "application"
    assert (hook["company_id"], hook["owner_id"], hook["user_id"]) == (1001, 501, 501)
    assert hook["http_auth_password"] == "p" and hook["is_active"] == 1
    add_hook(env, sam, event_object="deal")
    add_hook(env, gina)
    listed = env.http.get("/api/v1/webhooks", headers=bearer(ada)).json()["data"]
    assert sorted(w["owner_id"] for w in listed) == [501, 502]  # company-scoped

    r = env.http.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(gina))
    assert r.status_code == 404
    assert r.json() == {"status": "error", "success": False, "errors": {"id": ["not found"]}}
    r = env.http.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(ada))
    assert r.status_code == 200 and r.json()["success"] is True

    for _ in range(40):
        add_hook(env, ada)
    r = env.http.post(
        "/api/v1/webhooks",
        headers=bearer(ada),
        json={"subscription_url": env.receiver.url, "event_action": "*", "event_object": "deal"},
    )
    assert r.status_code == 422 and r.json()["error"] == "Webhooks limit reached"
    add_hook(env, sam)  # the limit is per user


def test_v2_person_create_delivery_with_typed_custom_fields(env: Env) -> None:
    tokens = install(env.http)
    hook = add_hook(env, tokens, http_auth_user="hook-user", http_auth_password="s3cret")
    fields = {
        f["name"]: f
        for f in env.http.get("/api/v1/personFields", headers=bearer(tokens)).json()["data"]
    }
    assert fields["Tier"]["edit_flag"] is True and fields["Email"]["edit_flag"] is False
    assert len(fields["Tier"]["key"]) == 40
    key = {name: f["key"] for name, f in fields.items()}
    gold = next(o["id"] for o in fields["Tier"]["options"] if o["label"] == "Gold")
    news, events = (o["id"] for o in fields["Interests"]["options"][:2])
    custom = {
        key["Birthday note"]: "likes cake",
        key["Score"]: 7.5,
        key["Budget"]: {"value": 200, "currency": "EUR"},
        key["Next call"]: "2026-03-01",
        key["Tier"]: gold,
        key["Interests"]: [news, events],
        key["Mobile"]: "+49 170 1",
        key["Office"]: {"value": "Main St 1, Berlin", "locality": "Berlin"},
    }
    r = env.http.post(
        "/api/v2/persons",
        headers=bearer(tokens),
        json={
            "name": "Jane Doe",
            "emails": [{"value": "jane@example.com", "primary": True}],
            "org_id": 1,
            "custom_fields": custom,
        },
    )
    assert r.status_code == 200, r.text
    person = r.json()["data"]
    assert person["first_name"] == "Jane" and person["last_name"] == "Doe"
    assert person["custom_fields"] == custom and person["visible_to"] == 3
    env.idle()

    (call,) = env.receiver.calls
    assert (
        call["headers"]["authorization"]
        == "Basic " + base64.b64encode(b"hook-user:s3cret").decode()
    )
    body = call["body"]
    assert body["previous"] is None
    meta = body["meta"]
    assert {
        k: meta[k]
        for k in (
            "action",
            "entity",
            "company_id",
            "entity_id",
            "user_id",
            "version",
            "webhook_id",
            "change_source",
            "attempt",
            "type",
            "is_bulk_edit",
            "webhook_owner_id",
        )
    } == {
        "action": "create",
        "entity": "person",
        "company_id": "1001",
        "entity_id": str(person["id"]),
        "user_id": "501",
        "version": "2.0",
        "webhook_id": str(hook["id"]),
        "change_source": "api",
        "attempt": 1,
        "type": "application",
        "is_bulk_edit": False,
        "webhook_owner_id": "501",
    }
    assert len(meta["id"]) == 36 and meta["timestamp"].endswith("Z")
    assert meta["host"] == urlsplit(env.sim.base_url).netloc
    data = body["data"]
    assert data["visible_to"] == "3" and data["org_id"] == 1
    assert data["emails"] == [{"value": "jane@example.com", "primary": True, "label": "work"}]
    cf = data["custom_fields"]
    assert cf[key["Birthday note"]] == {"type": "varchar", "value": "likes cake"}
    assert cf[key["Score"]] == {"type": "double", "value": 7.5}
    assert cf[key["Budget"]] == {"currency": "EUR", "type": "monetary", "value": 200}
    assert cf[key["Next call"]] == {"type": "date", "value": "2026-03-01"}
    assert cf[key["Tier"]] == {"id": gold, "type": "enum"}
    assert cf[key["Interests"]] == {"values": [{"id": news}, {"id": events}], "type": "set"}
    assert cf[key["Mobile"]] == {"type": "phone", "value": "+49 170 1"}
    assert cf[key["Office"]]["type"] == "address"
    assert cf[key["Office"]]["value"] == "Main St 1, Berlin"


def test_v2_change_and_delete_payloads(env: Env) -> None:
    tokens = install(env.http, 502)  # a non-admin installer; UI edits are made by the admin
    add_hook(env, tokens, event_action="change")
    add_hook(env, tokens, event_action="delete")
    score = env.sim.field_key(1001, "Score")
    person = env.http.post(
        "/_sim/persons",
        json={"company_id": 1001, "name": "Max Mustermann", "email": "max@example.com"},
    ).json()
    env.http.patch(f"/_sim/persons/{person['id']}", json={"custom_fields": {score: 99}})
    env.http.patch(f"/_sim/persons/{person['id']}", json={"custom_fields": {score: 99}})  # no-op
    env.http.delete(f"/_sim/persons/{person['id']}")
    env.idle()
    got = by_action(env.receiver)
    assert sorted(got) == ["change", "delete"]
    change, delete = got["change"], got["delete"]
    assert change["meta"]["change_source"] == "app"
    assert change["meta"]["user_id"] == "501"
    assert change["data"]["custom_fields"][score] == {"type": "double", "value": 99}
    assert change["previous"] == {
        "custom_fields": {score: None},
        "update_time": person["update_time"],
    }
    assert delete["meta"]["action"] == "delete" and delete["data"] is None
    assert delete["previous"]["name"] == "Max Mustermann"
    assert delete["previous"]["custom_fields"][score] == {"type": "double", "value": 99}


def test_retry_v1_counts_from_zero(env: Env) -> None:
    hook = add_hook(env, install(env.http), version="1.0", event_action="added")
    env.receiver.statuses = [500]
    env.http.post("/_sim/persons", json={"company_id": 1001, "name": "Retry Me"})
    env.idle()
    first, second = env.receiver.bodies()
    assert (first["retry"], second["retry"]) == (0, 1)
    assert first["meta"]["timestamp_micro"] == second["meta"]["timestamp_micro"]
    deliveries = env.http.get("/_sim/state").json()["deliveries"]
    assert [(d["webhook_id"], d["attempt"], d["status"]) for d in deliveries] == [
        (hook["id"], 1, 500),
        (hook["id"], 2, 200),
    ]


def test_retry_attempt_numbers_v2(env: Env) -> None:
    add_hook(env, install(env.http))
    env.receiver.statuses = [500, 502, 200]
    env.http.post("/_sim/persons", json={"company_id": 1001, "name": "Flaky"})
    env.idle()
    bodies = env.receiver.bodies()
    assert [b["meta"]["attempt"] for b in bodies] == [1, 2, 3]
    assert len({b["meta"]["id"] for b in bodies}) == 1
    hook = env.http.get("/_sim/state").json()["webhooks"][0]
    assert hook["fail_count"] == 1 and hook["last_http_status"] == 200


def test_ban_after_ten_first_attempt_failures(env: Env) -> None:
    hook = add_hook(env, install(env.http), event_action="create")
    env.receiver.default = 500
    for i in range(10):
        env.sim.create_person(1001, name=f"Fail {i}")
    env.idle()
    state = env.http.get("/_sim/state").json()
    (w,) = state["webhooks"]
    assert w["banned"] is True and w["banned_until"] and w["is_active"] == 0
    assert w["fail_count"] == 0  # reset when banned
    received = len(env.receiver.calls)
    env.receiver.default = 200
    env.sim.create_person(1001, name="Lost while banned")
    env.idle()
    assert len(env.receiver.calls) == received  # the event is lost, not queued
    lost = [d for d in env.http.get("/_sim/state").json()["deliveries"] if d["lost"]]
    assert lost and lost[-1]["webhook_id"] == hook["id"]
    env.sim.webhooks[hook["id"]]["banned_until"] = None  # the ban lasts 18 s at this scale
    env.sim.create_person(1001, name="After the ban")
    env.idle()
    assert env.receiver.bodies()[-1]["data"]["name"] == "After the ban"


def test_v1_payload_format(env: Env) -> None:
    tokens = install(env.http)
    hook = add_hook(env, tokens, version="1.0")
    tier, budget = env.sim.field_key(1001, "Tier"), env.sim.field_key(1001, "Budget")
    interests = env.sim.field_key(1001, "Interests")
    assert tier and budget and interests
    gold = env.sim.option_id(1001, "Tier", "Gold")
    opts = [env.sim.option_id(1001, "Interests", x) for x in ("News", "Offers")]
    r = env.http.post(
        "/api/v2/persons",
        headers=bearer(tokens),
        json={
            "name": "Vera One",
            "emails": [{"value": "vera@example.com"}],
            "custom_fields": {tier: gold, interests: opts, budget: {"value": 5, "currency": "USD"}},
        },
    )
    pid = r.json()["data"]["id"]
    env.http.patch(f"/api/v2/persons/{pid}", headers=bearer(tokens), json={"name": "Vera Two"})
    env.http.delete(f"/api/v2/persons/{pid}", headers=bearer(tokens))
    env.idle()
    got = by_action(env.receiver)
    assert sorted(got) == ["added", "deleted", "updated"]
    added, updated, deleted = got["added"], got["updated"], got["deleted"]
    assert added["v"] == 1 and added["retry"] == 0 and added["event"] == "added.person"
    assert added["matches_filters"] == {"current": [], "previous": []}
    meta = added["meta"]
    assert (meta["v"], meta["action"], meta["object"], meta["id"]) == (1, "added", "person", pid)
    assert (meta["company_id"], meta["user_id"], meta["change_source"]) == (1001, 501, "api")
    assert meta["webhook_id"] == str(hook["id"]) and meta["trans_pending"] is False
    assert isinstance(meta["timestamp"], int) and meta["timestamp_micro"] > meta["timestamp"]
    cur = added["current"]
    assert added["previous"] is None
    assert cur["email"][0]["value"] == "vera@example.com" and cur["primary_email"]
    assert cur[tier] == str(gold) and cur[interests] == ",".join(str(o) for o in opts)
    assert cur[budget] == 5 and cur[f"{budget}_currency"] == "USD"
    assert updated["event"] == "updated.person"
    assert updated["previous"]["name"] == "Vera One" and updated["current"]["name"] == "Vera Two"
    assert deleted["event"] == "deleted.person" and deleted["current"] is None
    assert deleted["previous"]["id"] == pid


def test_merge_persons_events(env: Env) -> None:
    tokens = install(env.http)
    add_hook(env, tokens)
    add_hook(env, tokens, version="1.0")
    a = env.sim.create_person(1001, name="Dup One", email="one@example.com")
    b = env.sim.create_person(1001, name="Dup Two", email="two@example.com")
    env.idle()
    env.receiver.calls.clear()
    r = env.http.post(f"/_sim/persons/{a['id']}/merge", json={"into": b["id"]})
    assert r.status_code == 200
    assert [e["value"] for e in r.json()["emails"]] == ["two@example.com", "one@example.com"]
    env.idle()
    v2 = [x for x in env.receiver.bodies() if x["meta"].get("version") == "2.0"]
    v1 = [x for x in env.receiver.bodies() if x.get("v") == 1]
    assert [(x["meta"]["action"], x["meta"]["entity_id"]) for x in v2] == [
        ("delete", str(a["id"])),
        ("change", str(b["id"])),
    ]
    assert v2[0]["meta"]["merged_to_id"] == str(b["id"])
    assert v2[0]["previous"]["merged_to_id"] == b["id"]
    assert v2[1]["meta"]["merged_from_id"] == str(a["id"])
    assert v2[1]["data"]["merged_from_id"] == a["id"]
    assert [x["event"] for x in v1] == ["merged.person", "deleted.person"]
    assert v1[0]["current"]["id"] == b["id"] and v1[1]["previous"]["id"] == a["id"]


# ------------------------------------------------------------------------------------------ API


def test_persons_pagination(env: Env) -> None:
    tokens = install(env.http)
    r = env.http.post("/_sim/bulk_persons", json={"company_id": 1001, "count": 1200})
    assert r.status_code == 201 and r.json()["count"] == 1200
    env.http.post("/_sim/bulk_persons", json={"company_id": 2002, "count": 3})
    r = env.http.get("/api/v2/persons", params={"limit": 501}, headers=bearer(tokens))
    assert r.status_code == 400 and r.json()["success"] is False
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        body = env.http.get("/api/v2/persons", params=params, headers=bearer(tokens)).json()
        seen += [p["id"] for p in body["data"]]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 1200 and seen == sorted(set(seen))
    assert (
        env.http.get(
            "/api/v2/persons", params={"cursor": "garbage!"}, headers=bearer(tokens)
        ).status_code
        == 400
    )

    for person in env.sim.persons.values():  # pretend the import happened a minute ago
        person["update_time"] -= timedelta(minutes=1)
    env.sim.update_person(seen[10], name="Changed Later")
    changed = env.sim.persons[seen[10]]["update_time"]
    body = env.http.get(
        "/api/v2/persons",
        headers=bearer(tokens),
        params={"sort_by": "update_time", "sort_direction": "desc", "limit": 1},
    ).json()
    assert body["data"][0]["id"] == seen[10]
    since = changed.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = env.http.get(
        "/api/v2/persons", headers=bearer(tokens), params={"updated_since": since}
    ).json()
    assert [p["id"] for p in body["data"]] == [seen[10]]
    body = env.http.get(
        "/api/v2/persons", headers=bearer(tokens), params={"ids": f"{seen[11]},{seen[12]}"}
    ).json()
    assert [p["id"] for p in body["data"]] == [seen[11], seen[12]]
    globex = install(env.http, 601)
    ids = [p["id"] for p in env.http.get("/api/v2/persons", headers=bearer(globex)).json()["data"]]
    assert len(ids) == 3 and not set(ids) & set(seen)  # ids are unique across companies


def test_person_patch_validation(env: Env) -> None:
    tokens = install(env.http)
    tier, interests = env.sim.field_key(1001, "Tier"), env.sim.field_key(1001, "Interests")
    news, events, offers = (
        env.sim.option_id(1001, "Interests", x) for x in ("News", "Events", "Offers")
    )
    gold = env.sim.option_id(1001, "Tier", "Gold")
    pid = env.sim.create_person(1001, name="Pat", custom_fields={interests: [news, events]})["id"]
    url = f"/api/v2/persons/{pid}"
    assert (
        env.http.patch(
            url, headers=bearer(tokens), json={"custom_fields": {tier: 999999}}
        ).status_code
        == 400
    )
    assert (
        env.http.patch(
            url, headers=bearer(tokens), json={"custom_fields": {tier: str(gold)}}
        ).status_code
        == 400
    )
    r = env.http.patch(
        url, headers=bearer(tokens), json={"custom_fields": {tier: gold, interests: [offers]}}
    )
    assert r.status_code == 200
    assert r.json()["data"]["custom_fields"][interests] == [offers]  # set replaces
    assert r.json()["data"]["custom_fields"][tier] == gold
    r = env.http.get("/api/v2/persons/999999", headers=bearer(tokens))
    assert r.status_code == 404
    assert r.json() == {"success": False, "error": "Person not found", "errorCode": 404}
    globex = install(env.http, 601)
    assert env.http.get(url, headers=bearer(globex)).status_code == 404
    assert (
        env.http.get("/api/v2/organizations", params={"ids": "1,2"}, headers=bearer(tokens)).json()[
            "data"
        ][1]["name"]
        == "Initech"
    )
    assert env.http.get("/api/v2/organizations/3", headers=bearer(tokens)).status_code == 404


def test_person_fields_create_needs_admin(env: Env) -> None:
    ada, sam = install(env.http), install(env.http, 502)
    field = {
        "name": "Newsletter",
        "field_type": "enum",
        "options": [
            {"label": "Subscribed"},
            {"label": "Pending confirmation"},
            {"label": "Unsubscribed"},
        ],
    }
    r = env.http.post("/api/v1/personFields", json=field, headers=bearer(sam))
    assert r.status_code == 403 and r.json()["success"] is False
    r = env.http.post(
        "/api/v1/personFields", json={"name": "X", "field_type": "enum"}, headers=bearer(ada)
    )
    assert r.status_code == 400
    r = env.http.post("/api/v1/personFields", json=field, headers=bearer(ada))
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data["key"]) == 40 and data["edit_flag"] is True
    assert [o["label"] for o in data["options"]] == [
        "Subscribed",
        "Pending confirmation",
        "Unsubscribed",
    ]
    r = env.http.post(
        "/api/v2/personFields",
        headers=bearer(ada),
        json={"field_name": "Topics", "field_type": "set", "options": [{"label": "A"}]},
    )
    assert r.status_code == 200 and r.json()["data"]["is_custom_field"] is True
    v2 = env.http.get("/api/v2/personFields", headers=bearer(sam)).json()["data"]
    assert {"Newsletter", "Topics", "Name"} <= {f["field_name"] for f in v2}
    page = env.http.get(
        "/api/v1/personFields", params={"start": 0, "limit": 5}, headers=bearer(sam)
    ).json()["additional_data"]["pagination"]
    assert page == {"start": 0, "limit": 5, "more_items_in_collection": True, "next_start": 5}
    # the new field shows up in the UI
    assert "Newsletter" in env.http.get("/").text


def test_deals_api_and_webhooks(env: Env) -> None:
    tokens = install(env.http)
    add_hook(env, tokens, event_object="deal")
    pid = env.sim.create_person(1001, name="Buyer")["id"]
    stages = env.http.get("/api/v2/stages", headers=bearer(tokens)).json()["data"]
    assert [s["name"] for s in stages] == ["Qualified", "Proposal", "Won-ready"]
    assert (
        env.http.get("/api/v2/pipelines", headers=bearer(tokens)).json()["data"][0]["name"]
        == "Sales"
    )
    r = env.http.post(
        "/api/v2/deals",
        headers=bearer(tokens),
        json={"title": "Big one", "value": 1000, "currency": "EUR", "person_id": pid},
    )
    assert r.status_code == 200
    deal = r.json()["data"]
    assert deal["status"] == "open" and deal["stage_id"] == stages[0]["id"]
    r = env.http.patch(
        f"/_sim/deals/{deal['id']}", json={"status": "won", "stage_id": stages[2]["id"]}
    )
    assert r.json()["won_time"] and r.json()["close_time"]
    listed = env.http.get(
        "/api/v2/deals", headers=bearer(tokens), params={"person_id": pid, "status": "won"}
    ).json()["data"]
    assert [d["id"] for d in listed] == [deal["id"]]
    env.http.delete(f"/api/v2/deals/{deal['id']}", headers=bearer(tokens))
    env.idle()
    got = by_action(env.receiver)
    assert sorted(got) == ["change", "create", "delete"]
    create, change, delete = got["create"], got["change"], got["delete"]
    assert create["meta"]["entity"] == "deal" and create["data"]["visible_to"] == "3"
    assert change["previous"]["status"] == "open" and change["previous"]["won_time"] is None
    assert change["previous"]["stage_id"] == stages[0]["id"]
    assert change["data"]["status"] == "won"
    assert delete["data"] is None and delete["previous"]["title"] == "Big one"


def test_faults_and_rate_limit(env: Env) -> None:
    tokens = install(env.http)
    env.http.post(
        "/_sim/faults",
        json={"path_prefix": "/api/v2/persons", "status": 429, "count": 1, "retry_after": 1},
    )
    r = env.http.get("/api/v2/persons", headers=bearer(tokens))
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert env.http.get("/api/v2/persons", headers=bearer(tokens)).status_code == 200
    env.http.post("/_sim/down", json={"down": True})
    assert env.http.get("/api/v2/persons", headers=bearer(tokens)).status_code == 503
    assert env.http.get("/").status_code == 200  # the sim's own UI stays up
    env.http.post("/_sim/reset_faults")
    statuses = [r["status"] for r in env.http.get("/_sim/state").json()["requests"]]
    assert 429 in statuses and 503 in statuses

    _, server = _start(time_scale=1.0)  # a real 2-second window
    try:
        with httpx.Client(base_url=server.url) as http:
            tok = install(http)
            http.post("/_sim/rate_limit", json={"per_2s": 3})
            answers = [http.get("/api/v2/persons", headers=bearer(tok)) for _ in range(4)]
            assert [a.status_code for a in answers] == [200, 200, 200, 429]
            assert answers[-1].json() == {
                "success": False,
                "error": "Request over limit",
                "errorCode": 429,
            }
            assert answers[0].headers["x-ratelimit-limit"] == "3"
            assert answers[0].headers["x-ratelimit-remaining"] == "2"
            assert answers[-1].headers["x-ratelimit-remaining"] == "0"
            assert 1 <= int(answers[-1].headers["x-ratelimit-reset"]) <= 2
    finally:
        server.stop()


def test_ui_pages_fire_webhooks(env: Env) -> None:
    add_hook(env, install(env.http))
    tier = env.sim.field_key(1001, "Tier")
    silver = env.sim.option_id(1001, "Tier", "Silver")
    page = env.http.get("/", params={"company": 1001})
    assert page.status_code == 200 and "Simulated" in page.text and "Add person" in page.text
    assert "Globex" in page.text and "Silver" in page.text
    r = env.http.post(
        "/ui/persons",
        data={
            "company": "1001",
            "name": "<b>UI Person</b>",
            "email": "ui@example.com",
            "org_id": "2",
            f"cf_{tier}": str(silver),
        },
    )
    assert r.status_code == 303
    page = env.http.get("/", params={"company": 1001})
    assert "&lt;b&gt;UI Person&lt;/b&gt;" in page.text  # autoescaped
    (person,) = env.http.get("/_sim/state").json()["persons"]
    assert env.http.get(f"/ui/persons/{person['id']}").status_code == 200
    env.http.post(
        f"/ui/persons/{person['id']}",
        data={"company": "1001", "name": "UI Person", "email": "ui@example.com", "org_id": "2"},
    )
    env.http.post(
        "/ui/deals",
        data={
            "company": "1001",
            "title": "UI deal",
            "value": "10",
            "currency": "EUR",
            "person_id": str(person["id"]),
            "stage_id": "1",
            "status": "open",
        },
    )
    env.idle()
    got = by_action(env.receiver)
    assert sorted(got) == ["change", "create"]
    create, change = got["create"], got["change"]
    assert create["meta"]["change_source"] == "app" and create["meta"]["user_id"] == "501"
    assert create["data"]["custom_fields"][tier] == {"id": silver, "type": "enum"}
    assert change["data"]["custom_fields"][tier] is None  # the edit cleared Tier
    assert change["previous"]["name"] == "<b>UI Person</b>"
    assert "UI deal" in env.http.get("/").text


def test_notes_on_persons_as_v1_documents_them(env: Env) -> None:
    tokens = install(env.http)
    pid = env.sim.create_person(1001, name="Pat")["id"]
    other = env.sim.create_person(2002, name="Elsewhere")["id"]

    def post(body: dict[str, Any]) -> httpx.Response:
        return env.http.post("/api/v1/notes", headers=bearer(tokens), json=body)

    assert post({"person_id": pid}).status_code == 400  # content is required
    assert post({"content": "x", "person_id": str(pid)}).status_code == 400
    assert (
        post({"content": "x", "person_id": pid, "add_time": "2026-12-07T10:00"}).status_code == 400
    )
    assert post({"content": "x", "person_id": other}).status_code == 404  # another company's
    r = post({"content": "<b>Bounce</b>", "person_id": pid, "add_time": "2026-12-01 10:00:00"})
    assert r.status_code == 201 and r.json()["data"]["add_time"] == "2026-12-01 10:00:00"
    assert [n["content"] for n in env.sim.notes.notes_of(pid)] == ["<b>Bounce</b>"]
    listed = env.http.get("/api/v1/notes", headers=bearer(tokens), params={"person_id": pid})
    assert [n["id"] for n in listed.json()["data"]] == [r.json()["data"]["id"]]
