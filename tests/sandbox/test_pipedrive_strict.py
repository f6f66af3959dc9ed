"""The simulated Pipedrive refuses what Pipedrive refuses, with Pipedrive's 400, never a 500:
deals' custom fields and visibility, webhook URLs, digits that only look like digits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox.pipedrive import PipedriveSim
from tests.sandbox.test_pipedrive_sim import _start, bearer, install


@dataclass
class Pd:
    sim: PipedriveSim
    http: httpx.Client
    auth: dict[str, str]  # Ada's (admin of company 1001) bearer header

    def deal_fields(self) -> dict[str, dict[str, Any]]:
        """The deal fields by name, as a client reads them from `GET /api/v2/dealFields`."""
        r = self.http.get("/api/v2/dealFields", headers=self.auth)
        assert r.status_code == 200, r.text
        return {f["field_name"]: f for f in r.json()["data"]}


@pytest.fixture
def pd() -> Iterator[Pd]:
    sim, server = _start()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield Pd(sim, http, bearer(install(http)))
    server.stop()


def refused(r: httpx.Response, message: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json() == {"success": False, "error": message, "errorCode": 400}


def option(field: dict[str, Any], label: str) -> int:
    return next(int(o["id"]) for o in field["options"] if o["label"] == label)


# ----------------------------------------------------------------- deals' custom fields (1)


def test_deal_custom_fields_are_checked_against_the_deal_fields_types(pd: Pd) -> None:
    fields = pd.deal_fields()
    source, products = fields["Deal source"], fields["Products"]
    seats, value = fields["Seats"]["field_code"], fields["Contract value"]["field_code"]
    renewal = fields["Renewal date"]["field_code"]
    src = source["field_code"]
    web, pro = option(source, "Web"), option(products, "Pro")

    def add(custom: dict[str, Any]) -> httpx.Response:
        return pd.http.post(
            "/api/v2/deals", headers=pd.auth, json={"title": "Deal", "custom_fields": custom}
        )

    why = f"Validation failed: custom_fields.{src}: "
    refused(add({src: "Web"}), why + "must be an option id (number)")
    refused(add({src: str(web)}), why + "must be an option id (number)")  # v2: no strings
    refused(add({src: 999999}), why + "option id 999999 does not exist")
    refused(add({seats: "12"}), f"Validation failed: custom_fields.{seats}: must be a number")
    refused(
        add({renewal: "2026-02-30"}),
        f"Validation failed: custom_fields.{renewal}: must be a date YYYY-MM-DD",
    )
    refused(
        add({products["field_code"]: [pro, 999999]}),
        f"Validation failed: custom_fields.{products['field_code']}: option id 999999 does not "
        "exist",
    )
    assert pd.sim.state(1001)["deals"] == []  # nothing refused was stored

    unknown = "0" * 40  # a deleted or made-up key: ignored, as Pipedrive does
    r = add(
        {
            src: web,
            products["field_code"]: [pro],
            seats: 12,
            value: {"value": 500, "currency": "USD"},
            unknown: "x",
        }
    )
    assert r.status_code == 200, r.text
    shown = r.json()["data"]["custom_fields"]
    assert shown[src] == web and shown[products["field_code"]] == [pro] and shown[seats] == 12
    assert shown[value] == {"value": 500, "currency": "USD"} and shown[renewal] is None
    assert unknown not in shown


def test_v1_deal_custom_fields_take_digit_strings_and_show_them_under_hash_keys(pd: Pd) -> None:
    fields = pd.deal_fields()
    src, web = fields["Deal source"]["field_code"], option(fields["Deal source"], "Web")
    r = pd.http.post("/_sim/deals", json={"company_id": 1001, "title": "D", "custom_fields": {}})
    deal_id = r.json()["id"]
    refused(
        pd.http.patch(f"/_sim/deals/{deal_id}", json={"custom_fields": {src: "Web"}}),
        f"Validation failed: custom_fields.{src}: must be an option id (number)",
    )
    r = pd.http.patch(f"/_sim/deals/{deal_id}", json={"custom_fields": {src: f" {web} "}})
    assert r.status_code == 200 and r.json()["custom_fields"][src] == web
    v1 = pd.http.get("/api/v1/dealFields", headers=pd.auth).json()["data"]
    assert src in {f["key"] for f in v1}


# ----------------------------------------------------------------------- deals' visible_to (2)


def test_a_deal_with_an_invalid_visible_to_is_refused_like_a_person(pd: Pd) -> None:
    deal = pd.http.post("/api/v2/deals", headers=pd.auth, json={"title": "Seen"}).json()["data"]
    url = f"/api/v2/deals/{deal['id']}"
    why = "Validation failed: visible_to: must be one of 1, 3, 5, 7"
    for bad in (2, "3", True, 3.0, None):
        refused(pd.http.patch(url, headers=pd.auth, json={"visible_to": bad}), why)
    refused(
        pd.http.post("/api/v2/deals", headers=pd.auth, json={"title": "X", "visible_to": 4}), why
    )
    r = pd.http.patch(url, headers=pd.auth, json={"visible_to": 5})
    assert r.status_code == 200 and r.json()["data"]["visible_to"] == 5
    # v1 writes it as a string
    r = pd.http.patch(f"/_sim/deals/{deal['id']}", json={"visible_to": "7"})
    assert r.status_code == 200 and r.json()["visible_to"] == 7
    refused(pd.http.patch(f"/_sim/deals/{deal['id']}", json={"visible_to": "9"}), why)


# ---------------------------------------------------------------------- webhook URLs (3)


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://host.example:99999/hook", "http://host.example:x/", "http://@/"]
)
def test_a_webhook_url_urlsplit_refuses_is_a_400(pd: Pd, url: str) -> None:
    r = pd.http.post(
        "/api/v1/webhooks",
        headers=pd.auth,
        json={
            "subscription_url": url,
            "event_action": "*",
            "event_object": "person",
            "name": "n",
        },
    )
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == {"subscription_url": ["invalid or non-reachable URL"]}


# ------------------------------------------------------------------ digits that are not (4)


def test_v1_option_ids_in_unicode_digits_are_refused(pd: Pd) -> None:
    tier, interests = pd.sim.field_key(1001, "Tier"), pd.sim.field_key(1001, "Interests")
    news = pd.sim.option_id(1001, "Interests", "News")
    person = pd.sim.create_person(1001, name="Pat")
    url = f"/_sim/persons/{person['id']}"
    for value in ("²", "٣", "1" * 5000):
        refused(
            pd.http.patch(url, json={"custom_fields": {tier: value}}),
            f"Validation failed: custom_fields.{tier}: must be an option id (number)",
        )
    refused(
        pd.http.patch(url, json={"custom_fields": {interests: f"{news},²"}}),
        f"Validation failed: custom_fields.{interests}: must be an array of option ids (numbers)",
    )
    user_field = pd.http.post(
        "/api/v2/personFields", headers=pd.auth, json={"field_name": "Buddy", "field_type": "user"}
    ).json()["data"]["field_code"]
    refused(
        pd.http.patch(url, json={"custom_fields": {user_field: "²"}}),
        f"Validation failed: custom_fields.{user_field}: must be an id (number)",
    )
    r = pd.http.patch(url, json={"custom_fields": {tier: "", user_field: "502"}})
    assert r.status_code == 200 and r.json()["custom_fields"][user_field] == 502


def test_ids_and_numbers_outside_ascii_digits_or_json_are_a_400(pd: Pd) -> None:
    person = pd.sim.create_person(1001, name="Pat")
    r = pd.http.get("/api/v1/notes", headers=pd.auth, params={"person_id": "²"})
    refused(r, "Validation failed: person_id: must be an integer")
    refused(
        pd.http.patch(f"/_sim/persons/{person['id']}", json={"owner_id": "²"}),
        "Validation failed: owner_id: must be a number",
    )
    refused(
        pd.http.patch(f"/_sim/persons/{person['id']}", json={"org_id": True}),
        "Validation failed: org_id: must be a number",
    )
    refused(
        pd.http.get("/api/v2/persons", headers=pd.auth, params={"limit": "²"}),
        "Validation failed: limit: must be an integer",
    )
    for body in ('{"title": "T", "value": 1e400}', '{"title": "T", "value": NaN}', "[" * 5000):
        r = pd.http.post(
            "/api/v2/deals",
            headers={**pd.auth, "content-type": "application/json"},
            content=body,
        )
        refused(r, "Invalid JSON body")
    score = pd.sim.field_key(1001, "Score")
    refused(
        pd.http.patch(f"/_sim/persons/{person['id']}", json={"custom_fields": {score: "1.5e999"}}),
        f"Validation failed: custom_fields.{score}: must be a number",
    )
    pd.sim.core.jwt_secret = "a-secret-of-32-bytes-or-more-...."
    page = pd.http.get("/ui/extensions/token", params={"company": "1001", "user": "²"})
    assert page.status_code == 200  # the company's admin, as for any unknown user
    assert pd.http.get("/_sim/state", params={"company_id": "²"}).status_code == 400


def test_dates_are_yyyy_mm_dd_only(pd: Pd) -> None:
    deal = pd.http.post("/api/v2/deals", headers=pd.auth, json={"title": "Soon"}).json()["data"]
    url = f"/api/v2/deals/{deal['id']}"
    for bad in ("20260131", "2026-W05-6", "2026-02-30", "\uff12\uff10\uff12\uff16-01-31"):
        refused(
            pd.http.patch(url, headers=pd.auth, json={"expected_close_date": bad}),
            "Validation failed: expected_close_date: YYYY-MM-DD",
        )
    r = pd.http.patch(url, headers=pd.auth, json={"expected_close_date": "2026-01-31"})
    assert r.status_code == 200 and r.json()["data"]["expected_close_date"] == "2026-01-31"


def test_list_cursors_and_times_out_of_range_are_a_400(pd: Pd) -> None:
    refused(
        pd.http.get("/api/v2/persons", headers=pd.auth, params={"cursor": "W10"}),  # "[]"
        "Invalid cursor",
    )
    refused(
        pd.http.get("/api/v2/personFields", headers=pd.auth, params={"cursor": "W10"}),
        "Invalid cursor",
    )
    refused(
        pd.http.get(
            "/api/v2/persons",
            headers=pd.auth,
            params={"updated_since": "0001-01-01T00:00:00+01:00"},
        ),
        "Validation failed: updated_since: Invalid RFC3339 date-time",
    )
