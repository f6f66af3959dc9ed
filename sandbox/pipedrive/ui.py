"""The small web UI for people trying the demo."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.favicon import favicon_route
from sandbox.pipedrive.core import TEMPLATES, SimCore
from sandbox.pipedrive.deals import DealsAndOrgs
from sandbox.pipedrive.display import ui_display, ui_fields
from sandbox.pipedrive.extensions import Extensions
from sandbox.pipedrive.helpers import v1_time
from sandbox.pipedrive.model import ApiError
from sandbox.pipedrive.persons import Persons
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.webhooks import WebhookAdmin


class UiRoutes:
    """The UI pages and form actions."""

    def __init__(
        self,
        core: SimCore,
        hooks: WebhookAdmin,
        orgs_deals: DealsAndOrgs,
        people: Persons,
        rep: Representations,
    ) -> None:
        self.core = core
        self.hooks = hooks
        self.orgs_deals = orgs_deals
        self.people = people
        self.rep = rep

    def routes(self) -> list[BaseRoute]:
        """The UI pages, the favicon and the custom UI extensions."""
        return [
            Route("/", self._ui_index, methods=["GET"]),
            favicon_route("P", "#017737"),
            *Extensions(self.core, TEMPLATES).routes(),
            Route("/ui/persons", self._ui_person_add, methods=["POST"]),
            Route("/ui/persons/merge", self._ui_person_merge, methods=["POST"]),
            Route("/ui/persons/{id:int}", self._ui_person_edit, methods=["GET", "POST"]),
            Route("/ui/persons/{id:int}/delete", self._ui_person_delete, methods=["POST"]),
            Route("/ui/deals", self._ui_deal_add, methods=["POST"]),
            Route("/ui/deals/{id:int}", self._ui_deal_edit, methods=["GET", "POST"]),
            Route("/ui/deals/{id:int}/delete", self._ui_deal_delete, methods=["POST"]),
            # Pipedrive's own addresses of a person and a deal ({api_domain}/person/5)
            Route("/person/{id:int}", self._ui_person_link, methods=["GET"]),
            Route("/deal/{id:int}", self._ui_deal_link, methods=["GET"]),
        ]

    async def _ui_person_link(self, request: Request) -> Response:
        return RedirectResponse(f"/ui/persons/{request.path_params['id']}/view", 302)

    async def _ui_deal_link(self, request: Request) -> Response:
        return RedirectResponse(f"/ui/deals/{request.path_params['id']}", 302)

    # ------------------------------------------------------------------ web UI

    def _ui_company(self, request: Request, form: FormData | None = None) -> int:
        raw = (
            (form.get("company") if form is not None else None)
            or request.query_params.get("company")
            or "1001"
        )
        try:
            cid = int(str(raw))
        except ValueError:
            cid = 1001
        return cid if cid in self.core.companies else 1001

    async def _ui_index(self, request: Request) -> Response:
        cid = self._ui_company(request)
        with self.core.lock:
            ctx = self._index_context(cid)
        ctx["message"] = request.query_params.get("msg", "")
        ctx["error"] = request.query_params.get("err", "")
        return TEMPLATES.TemplateResponse(request, "pipedrive/index.html", ctx)

    def _index_context(self, cid: int) -> dict[str, Any]:
        """What the index page shows of one company (called under the lock)."""
        fields = ui_fields(self.core, cid)
        orgs = {o["id"]: o for o in self.core.organizations.values() if o["company_id"] == cid}
        own_persons = [p for p in self.core.persons.values() if p["company_id"] == cid]
        person_names = {p["id"]: p["name"] for p in own_persons}
        stages = [s for s in self.core.stages.values() if s["company_id"] == cid]
        return {
            "companies": list(self.core.companies.values()),
            "company": self.core.companies[cid],
            "fields": fields,
            "persons": _person_rows(own_persons, fields, orgs),
            "person_count": len(own_persons),
            "person_choices": sorted(person_names.items()),
            "orgs": list(orgs.values()),
            "deals": self._deal_rows(cid, person_names, {s["id"]: s["name"] for s in stages}),
            "stages": stages,
            "webhooks": [
                self.hooks.webhook_out(w, internal=True)
                for w in self.core.webhooks.values()
                if w["company_id"] == cid
            ],
            "deliveries": [d for d in self.core.deliveries if d["company_id"] == cid][-20:][::-1],
            "users": [u for u in self.core.users.values() if u["company_id"] == cid],
        }

    def _deal_rows(
        self, cid: int, person_names: dict[int, str], stage_names: dict[int, str]
    ) -> list[dict[str, Any]]:
        return [
            {
                **self.rep.deal_v2(d),
                "person": person_names.get(d["person_id"], ""),
                "stage": stage_names.get(d["stage_id"], ""),
            }
            for d in self.core.deals.values()
            if d["company_id"] == cid
        ]

    def _ui_back(self, cid: int, *, msg: str = "", err: str = "") -> Response:
        params = {"company": str(cid)}
        if msg:
            params["msg"] = msg
        if err:
            params["err"] = err
        return RedirectResponse("/?" + urlencode(params), status_code=303)

    def _ui_person_body(self, cid: int, form: FormData, creating: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": str(form.get("name") or "").strip(),
            "org_id": form.get("org_id") or None,
        }
        email = str(form.get("email") or "").strip()
        if email or not creating:
            body["email"] = email
        cf: dict[str, Any] = {}
        for f in self.core.custom_fields(cid):
            name = f"cf_{f['key']}"
            if f["field_type"] == "set":
                cf[f["key"]] = [str(v) for v in form.getlist(name)] or None
            else:
                raw = str(form.get(name) or "").strip()
                if f["field_type"] == "monetary" and raw:
                    cf[f["key"]] = {"value": raw, "currency": form.get(f"{name}_currency") or "EUR"}
                else:
                    cf[f["key"]] = raw or None
        if creating:
            cf = {k: v for k, v in cf.items() if v is not None}
        body["custom_fields"] = cf
        return body

    async def _ui_person_add(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            p = self.people.records.create(
                cid, self._ui_person_body(cid, form, True), "app", None, strict=False
            )
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg=f"Person {p['name']} added")

    async def _ui_person_edit(self, request: Request) -> Response:
        pid = int(request.path_params["id"])
        with self.core.lock:
            p = self.core.persons.get(pid)
            if p is None:
                return self._ui_back(self._ui_company(request), err="Person not found")
            cid = p["company_id"]
        if request.method == "POST":
            form = await request.form()
            try:
                self.people.records.update(
                    pid, self._ui_person_body(cid, form, False), "app", None, strict=False
                )
            except ApiError as exc:
                return self._ui_back(cid, err=str(exc))
            return self._ui_back(cid, msg=f"Person {pid} saved")
        with self.core.lock:
            values = {}
            for f in self.core.custom_fields(cid):
                v = p["custom_fields"].get(f["key"])
                if f["field_type"] == "set":
                    values[f["key"]] = v or []
                elif isinstance(v, dict):
                    values[f["key"]] = v.get("value", "")
                    if f["field_type"] == "monetary":
                        values[f["key"] + "_currency"] = v.get("currency", "EUR")
                else:
                    values[f["key"]] = "" if v is None else v
            ctx = {
                "companies": list(self.core.companies.values()),
                "company": self.core.companies[cid],
                "person": self.rep.person_v2(p),
                "email": ", ".join(e["value"] for e in p["emails"]),
                "fields": ui_fields(self.core, cid),
                "values": values,
                "orgs": [o for o in self.core.organizations.values() if o["company_id"] == cid],
            }
        return TEMPLATES.TemplateResponse(request, "pipedrive/person_edit.html", ctx)

    async def _ui_person_delete(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            self.people.records.delete(int(request.path_params["id"]), "app", None)
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg="Person deleted")

    async def _ui_person_merge(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            self.people.merge(
                int(str(form.get("person_id"))), int(str(form.get("into"))), "app", None
            )
        except (ApiError, ValueError) as exc:
            return self._ui_back(cid, err=str(exc) or "Choose two persons")
        return self._ui_back(cid, msg="Persons merged")

    @staticmethod
    def _ui_deal_body(form: FormData) -> dict[str, Any]:
        return {
            "title": str(form.get("title") or "").strip(),
            "value": form.get("value") or "0",
            "currency": form.get("currency") or "EUR",
            "person_id": form.get("person_id") or None,
            "stage_id": form.get("stage_id") or None,
            "status": form.get("status") or "open",
        }

    async def _ui_deal_add(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            d = self.orgs_deals.records.create(
                cid, self._ui_deal_body(form), "app", None, strict=False
            )
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg=f"Deal {d['title']} added")

    async def _ui_deal_edit(self, request: Request) -> Response:
        did = int(request.path_params["id"])
        with self.core.lock:
            d = self.core.deals.get(did)
            if d is None:
                return self._ui_back(self._ui_company(request), err="Deal not found")
            cid = d["company_id"]
        if request.method == "POST":
            form = await request.form()
            try:
                self.orgs_deals.records.update(
                    did, self._ui_deal_body(form), "app", None, strict=False
                )
            except ApiError as exc:
                return self._ui_back(cid, err=str(exc))
            return self._ui_back(cid, msg=f"Deal {did} saved")
        with self.core.lock:
            ctx = {
                "companies": list(self.core.companies.values()),
                "company": self.core.companies[cid],
                "deal": self.rep.deal_v2(d),
                "persons": sorted(
                    (p["id"], p["name"])
                    for p in self.core.persons.values()
                    if p["company_id"] == cid
                ),
                "stages": [s for s in self.core.stages.values() if s["company_id"] == cid],
            }
        return TEMPLATES.TemplateResponse(request, "pipedrive/deal_edit.html", ctx)

    async def _ui_deal_delete(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            self.orgs_deals.records.delete(int(request.path_params["id"]), "app", None)
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg="Deal deleted")


def _person_rows(
    persons: list[dict[str, Any]], fields: list[dict[str, Any]], orgs: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The newest 200 persons as the index lists them."""
    newest = sorted(persons, key=lambda p: p["id"], reverse=True)[:200]
    return [
        {
            "id": p["id"],
            "name": p["name"],
            "email": ", ".join(e["value"] for e in p["emails"]),
            "org": orgs[p["org_id"]]["name"] if p["org_id"] in orgs else "",
            "custom": [ui_display(f, p["custom_fields"].get(f["key"])) for f in fields],
            "update_time": v1_time(p["update_time"]),
        }
        for p in newest
    ]
