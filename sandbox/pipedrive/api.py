"""The API v1/v2 routes: users, webhooks, fields, persons, organizations, deals, pipelines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.deals import DealsAndOrgs
from sandbox.pipedrive.gate import Gate
from sandbox.pipedrive.helpers import (
    decode_cursor,
    encode_cursor,
    fail,
    int_param,
    json_body,
)
from sandbox.pipedrive.listing import list_page
from sandbox.pipedrive.model import FIELD_TYPES, MAX_LIMIT, ApiError, Auth, default_access
from sandbox.pipedrive.persons import Persons
from sandbox.pipedrive.public import PythonApi
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.webhooks import WebhookAdmin


class ApiRoutes:
    """API route handlers."""

    def __init__(
        self,
        core: SimCore,
        gate: Gate,
        hooks: WebhookAdmin,
        orgs_deals: DealsAndOrgs,
        people: Persons,
        pyapi: PythonApi,
        rep: Representations,
    ) -> None:
        self.core = core
        self.gate = gate
        self.hooks = hooks
        self.orgs_deals = orgs_deals
        self.people = people
        self.pyapi = pyapi
        self.rep = rep

    def routes(self) -> list[BaseRoute]:
        """The API v1/v2 endpoints, each behind bearer auth and rate limits."""
        api = self.gate._api
        return [
            Route("/api/v1/users/me", api(self._users_me), methods=["GET"]),
            Route("/api/v1/users", api(self._users_list), methods=["GET"]),
            Route("/api/v1/webhooks", api(self._webhooks_list), methods=["GET"]),
            Route("/api/v1/webhooks", api(self._webhooks_add), methods=["POST"]),
            Route("/api/v1/webhooks/{id:int}", api(self._webhooks_delete), methods=["DELETE"]),
            Route("/api/v1/personFields", api(self._fields_v1_list), methods=["GET"]),
            Route("/api/v1/personFields", api(self._fields_v1_add), methods=["POST"]),
            Route("/api/v2/personFields", api(self._fields_v2_list), methods=["GET"]),
            Route("/api/v2/personFields", api(self._fields_v2_add), methods=["POST"]),
            Route("/api/v1/dealFields", api(self._deal_fields_v1_list), methods=["GET"]),
            Route("/api/v2/dealFields", api(self._deal_fields_v2_list), methods=["GET"]),
            Route("/api/v2/persons", api(self._persons_list), methods=["GET"]),
            Route("/api/v2/persons", api(self._persons_add), methods=["POST"]),
            Route("/api/v2/persons/{id:int}", api(self._person_get), methods=["GET"]),
            Route("/api/v2/persons/{id:int}", api(self._person_patch), methods=["PATCH"]),
            Route("/api/v2/persons/{id:int}", api(self._person_delete), methods=["DELETE"]),
            Route("/api/v2/organizations", api(self._orgs_list), methods=["GET"]),
            Route("/api/v2/organizations/{id:int}", api(self._org_get), methods=["GET"]),
            Route("/api/v2/deals", api(self._deals_list), methods=["GET"]),
            Route("/api/v2/deals", api(self._deals_add), methods=["POST"]),
            Route("/api/v2/deals/{id:int}", api(self._deal_get), methods=["GET"]),
            Route("/api/v2/deals/{id:int}", api(self._deal_patch), methods=["PATCH"]),
            Route("/api/v2/deals/{id:int}", api(self._deal_delete), methods=["DELETE"]),
            Route("/api/v2/pipelines", api(self._pipelines), methods=["GET"]),
            Route("/api/v2/stages", api(self._stages), methods=["GET"]),
        ]

    # ------------------------------------------------------------------ api routes

    async def _users_me(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            user = self.core.users[auth.user_id]
            company = self.core.companies[auth.company_id]
        admin = bool(user["is_admin"])
        access = user["access"] if "access" in user else default_access(admin)
        data: dict[str, Any] = {
            "id": user["id"],
            "name": user["name"],
            "default_currency": "EUR",
            "locale": "en_US",
            "lang": 1,
            "email": user["email"],
            "phone": None,
            "activated": True,
            "last_login": "2026-01-01 08:00:00",
            "created": "2024-01-01 08:00:00",
            "modified": "2026-01-01 08:00:00",
            "has_created_company": admin,
            "access": access,
            "active_flag": True,
            "timezone_name": "Europe/Berlin",
            "timezone_offset": "+01:00",
            "role_id": 1,
            "icon_url": None,
            "is_you": True,
            "is_deleted": False,
            "company_id": company["id"],
            "company_name": company["name"],
            "company_domain": company["domain"],
            "company_country": "DE",
            "company_industry": None,
            "language": {"language_code": "en", "country_code": "US"},
        }
        if access is None:  # the pre-2022 schema: no `access`, an `is_admin` flag
            del data["access"]
            data["is_admin"] = admin
        return JSONResponse({"success": True, "data": data})

    async def _users_list(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            users = [
                {
                    "id": u["id"],
                    "name": u["name"],
                    "email": u["email"],
                    "is_admin": u["is_admin"],
                    "active_flag": True,
                    "is_you": u["id"] == auth.user_id,
                }
                for u in self.core.users.values()
                if u["company_id"] == auth.company_id
            ]
        return JSONResponse({"success": True, "data": users})

    async def _webhooks_list(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            hooks = [
                self.hooks.webhook_out(w)
                for w in self.core.webhooks.values()
                if w["company_id"] == auth.company_id
            ]
        return JSONResponse({"status": "ok", "success": True, "data": hooks})

    async def _webhooks_add(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        return JSONResponse(
            {"status": "ok", "success": True, "data": self.hooks.create_webhook(auth, body)},
            status_code=201,
        )

    async def _webhooks_delete(self, request: Request, auth: Auth) -> Response:
        wid = int(request.path_params["id"])
        with self.core.lock:
            hook = self.core.webhooks.get(wid)
            if hook is None or hook["company_id"] != auth.company_id:
                return JSONResponse(
                    {"status": "error", "success": False, "errors": {"id": ["not found"]}},
                    status_code=404,
                )
            del self.core.webhooks[wid]
        return JSONResponse({"status": "ok", "success": True, "data": {"id": wid}})

    def _require_admin(self, auth: Auth) -> None:
        if not self.core.users[auth.user_id]["is_admin"]:
            raise ApiError(403, {"success": False, "error": "Forbidden", "errorCode": 403})

    async def _fields_v1_list(
        self, request: Request, auth: Auth, entity: str = "person"
    ) -> Response:
        q = request.query_params
        start = int_param(q.get("start"), "start", 0)
        limit = int_param(q.get("limit"), "limit", 100)
        if limit < 1 or limit > MAX_LIMIT or start < 0:
            raise fail(400, "Validation failed: limit must be 1-500, start >= 0")
        with self.core.lock:
            fields = [
                self.pyapi.field_v1(f)
                for f in self.core.fields_of(entity).values()
                if f["company_id"] == auth.company_id
            ]
        page = fields[start : start + limit]
        more = start + limit < len(fields)
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        return JSONResponse(
            {"success": True, "data": page, "additional_data": {"pagination": pagination}}
        )

    def _add_field_checked(
        self,
        auth: Auth,
        name: Any,
        field_type: Any,
        options: Any,
    ) -> dict[str, Any]:
        self._require_admin(auth)
        if not isinstance(name, str) or not name.strip():
            raise fail(400, "Validation failed: name: required")
        if field_type not in FIELD_TYPES:
            raise fail(
                400,
                f"Validation failed: field_type: must be one of {', '.join(sorted(FIELD_TYPES))}",
            )
        labels: list[str] | None = None
        if field_type in ("enum", "set"):
            if isinstance(options, str):
                try:
                    options = json.loads(options)
                except ValueError:
                    options = None
            if (
                not isinstance(options, list)
                or not options
                or not all(isinstance(o, dict) and isinstance(o.get("label"), str) for o in options)
            ):
                raise fail(
                    400,
                    "Validation failed: options: required for enum and set fields, "
                    'e.g. [{"label": "New Item"}]',
                )
            labels = [o["label"] for o in options]
        with self.core.lock:
            return self.core.add_field(
                auth.company_id, name.strip(), field_type, labels, user_id=auth.user_id
            )

    async def _fields_v1_add(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        f = self._add_field_checked(
            auth, body.get("name"), body.get("field_type"), body.get("options")
        )
        return JSONResponse({"success": True, "data": self.pyapi.field_v1(f)})

    async def _deal_fields_v1_list(self, request: Request, auth: Auth) -> Response:
        return await self._fields_v1_list(request, auth, "deal")

    async def _deal_fields_v2_list(self, request: Request, auth: Auth) -> Response:
        return await self._fields_v2_list(request, auth, "deal")

    async def _fields_v2_list(
        self, request: Request, auth: Auth, entity: str = "person"
    ) -> Response:
        q = request.query_params
        limit = int_param(q.get("limit"), "limit", 100)
        if limit < 1 or limit > MAX_LIMIT:
            raise fail(400, "Validation failed: limit: must be 1-500")
        cursor = q.get("cursor")
        offset = decode_cursor(cursor)[0] if cursor else 0
        if offset < 0:
            raise fail(400, "Invalid cursor")
        with self.core.lock:
            fields = [
                self.pyapi.field_v2(f)
                for f in self.core.fields_of(entity).values()
                if f["company_id"] == auth.company_id
            ]
        page = fields[int(offset) : int(offset) + limit]
        more = int(offset) + limit < len(fields)
        return JSONResponse(
            {
                "success": True,
                "data": page,
                "additional_data": {
                    "next_cursor": encode_cursor([int(offset) + limit]) if more else None
                },
            }
        )

    async def _fields_v2_add(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        f = self._add_field_checked(
            auth, body.get("field_name"), body.get("field_type"), body.get("options")
        )
        return JSONResponse({"success": True, "data": self.pyapi.field_v2(f)})

    def _list(
        self,
        request: Request,
        records: Iterable[dict[str, Any]],
        render: Callable[[dict[str, Any]], dict[str, Any]],
        filters: Iterable[tuple[str, str]] = (),
    ) -> Response:
        return JSONResponse(list_page(request.query_params, records, render, filters))

    async def _persons_list(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            rows = [p for p in self.core.persons.values() if p["company_id"] == auth.company_id]
            return self._list(
                request, rows, self.rep.person_v2, [("org_id", "org_id"), ("owner_id", "owner_id")]
            )

    async def _persons_add(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        p = self.people.records.create(auth.company_id, body, "api", auth.user_id, strict=True)
        p.pop("company_id")
        return JSONResponse({"success": True, "data": p})

    async def _person_get(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            p = self.people.records.get(int(request.path_params["id"]), auth.company_id)
            return JSONResponse({"success": True, "data": self.rep.person_v2(p)})

    async def _person_patch(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        p = self.people.records.update(
            int(request.path_params["id"]),
            body,
            "api",
            auth.user_id,
            company_id=auth.company_id,
            strict=True,
        )
        p.pop("company_id")
        return JSONResponse({"success": True, "data": p})

    async def _person_delete(self, request: Request, auth: Auth) -> Response:
        pid = int(request.path_params["id"])
        self.people.records.delete(pid, "api", auth.user_id, company_id=auth.company_id)
        return JSONResponse({"success": True, "data": {"id": pid}})

    async def _orgs_list(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            rows = [
                o for o in self.core.organizations.values() if o["company_id"] == auth.company_id
            ]
            return self._list(request, rows, self.rep.org_v2, [("owner_id", "owner_id")])

    async def _org_get(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            o = self.core.organizations.get(int(request.path_params["id"]))
            if o is None or o["company_id"] != auth.company_id:
                raise fail(404, "Organization not found")
            return JSONResponse({"success": True, "data": self.rep.org_v2(o)})

    async def _deals_list(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            rows = [d for d in self.core.deals.values() if d["company_id"] == auth.company_id]
            return self._list(
                request,
                rows,
                self.rep.deal_v2,
                [
                    ("person_id", "person_id"),
                    ("org_id", "org_id"),
                    ("owner_id", "owner_id"),
                    ("stage_id", "stage_id"),
                    ("pipeline_id", "pipeline_id"),
                ],
            )

    async def _deals_add(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        d = self.orgs_deals.records.create(auth.company_id, body, "api", auth.user_id, strict=True)
        d.pop("company_id")
        return JSONResponse({"success": True, "data": d})

    async def _deal_get(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            d = self.orgs_deals.records.get(int(request.path_params["id"]), auth.company_id)
            return JSONResponse({"success": True, "data": self.rep.deal_v2(d)})

    async def _deal_patch(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        d = self.orgs_deals.records.update(
            int(request.path_params["id"]),
            body,
            "api",
            auth.user_id,
            company_id=auth.company_id,
            strict=True,
        )
        d.pop("company_id")
        return JSONResponse({"success": True, "data": d})

    async def _deal_delete(self, request: Request, auth: Auth) -> Response:
        did = int(request.path_params["id"])
        self.orgs_deals.records.delete(did, "api", auth.user_id, company_id=auth.company_id)
        return JSONResponse({"success": True, "data": {"id": did}})

    async def _pipelines(self, request: Request, auth: Auth) -> Response:
        with self.core.lock:
            rows = [
                {
                    "id": p["id"],
                    "name": p["name"],
                    "order_nr": p["order_nr"],
                    "is_deleted": False,
                    "is_deal_probability_enabled": False,
                    "add_time": None,
                    "update_time": None,
                }
                for p in self.core.pipelines.values()
                if p["company_id"] == auth.company_id
            ]
        return JSONResponse(
            {"success": True, "data": rows, "additional_data": {"next_cursor": None}}
        )

    async def _stages(self, request: Request, auth: Auth) -> Response:
        pipeline = request.query_params.get("pipeline_id")
        with self.core.lock:
            rows = [
                {
                    "id": s["id"],
                    "name": s["name"],
                    "pipeline_id": s["pipeline_id"],
                    "order_nr": s["order_nr"],
                    "deal_probability": 100,
                    "is_deleted": False,
                    "is_deal_rot_enabled": False,
                    "days_to_rotten": None,
                }
                for s in self.core.stages.values()
                if s["company_id"] == auth.company_id
                and (not pipeline or str(s["pipeline_id"]) == pipeline)
            ]
        return JSONResponse(
            {"success": True, "data": rows, "additional_data": {"next_cursor": None}}
        )
