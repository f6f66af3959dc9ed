"""The control surface under `/_sim/` (no auth, exempt from fault injection)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import controls
from sandbox.digits import ascii_int
from sandbox.maileon.contacts import ContactRoutes
from sandbox.maileon.core import SimCore
from sandbox.maileon.model import (
    ALL_METHODS,
    DEFAULT_ACCOUNT,
    PERMISSION_NAMES,
    Account,
    ApiError,
    Contact,
    valid_email,
)
from sandbox.maileon.params import read_json


class ControlRoutes:
    """Control endpoints for tests and the demo."""

    def __init__(self, contacts: ContactRoutes, core: SimCore) -> None:
        self.contacts = contacts
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """Routes under `/_sim/`."""
        return [
            Route("/_sim/state", self.sim_state, methods=["GET"]),
            Route("/_sim/accounts", self.sim_accounts, methods=["GET"]),
            Route("/_sim/keys", self.sim_add_key, methods=["POST"]),
            Route("/_sim/keys/revoke", self.sim_revoke_key, methods=["POST"]),
            Route("/_sim/contacts", self.sim_add_contact, methods=["POST"]),
            Route("/_sim/contacts/confirm_doi", self.sim_confirm_doi, methods=["POST"]),
            Route("/_sim/contacts/unsubscribe", self.sim_unsubscribe, methods=["POST"]),
            Route("/_sim/doi_keys", self.sim_doi_key, methods=["POST"]),
            Route("/_sim/faults", self.sim_faults, methods=["POST"]),
            Route("/_sim/latency", self.sim_latency, methods=["POST"]),
            Route("/_sim/report_shape", self.sim_report_shape, methods=["POST"]),
            Route("/_sim/hold", self.sim_hold, methods=["POST", "GET"]),
            Route("/_sim/release", self.sim_release, methods=["POST"]),
            Route("/_sim/down", self.sim_down, methods=["POST"]),
            Route("/_sim/reset_faults", self.sim_reset_faults, methods=["POST"]),
            Route("/_sim/reset", self.sim_reset, methods=["POST"]),
            Route("/_sim/idle", self.sim_idle, methods=["POST", "GET"]),
            Route(controls.PATH, self.sim_controls_page, methods=["GET"]),
            Route(controls.PATH, self.sim_controls_action, methods=["POST"]),
        ]

    async def sim_controls_page(self, request: Request) -> Response:
        keys = [
            {"key": k.key, "account": k.account, "revoked": False} for k in self.core.keys.values()
        ]
        keys += [
            {"key": k.key, "account": k.account, "revoked": True}
            for k in self.core.revoked_keys.values()
            if k.key not in self.core.keys
        ]
        context = {
            "service": "Maileon",
            "color": "#e4007d",
            "faults": controls.fault_state(self.core.faults),
            "keys": sorted(keys, key=lambda k: str(k["key"])),
            "message": request.query_params.get("msg"),
            "error": request.query_params.get("error"),
        }
        return self.core.templates.TemplateResponse(request, "maileon/controls.html", context)

    async def sim_controls_action(self, request: Request) -> Response:
        form = await request.form()
        action = str(form.get("action") or "")

        def act() -> str:
            said = controls.common_action(self.core.faults, action, form, "/1.0/")
            if said is not None:
                return said
            key = str(form.get("key") or "")
            if action == "revoke_key" and key in self.core.keys:
                self.core.revoked_keys[key] = self.core.keys.pop(key)
                return f"Key {key} revoked: Maileon answers 401 to it."
            if action == "restore_key" and key in self.core.revoked_keys:
                self.core.keys[key] = self.core.revoked_keys.pop(key)
                return f"Key {key} restored: Maileon accepts it again."
            raise controls.ControlError(f"unknown control {action!r}")

        return controls.run(act)

    # -- control surface --------------------------------------------------------------------------

    async def control_body(self, request: Request) -> dict[str, Any]:
        data = await read_json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        return data

    def control_account(self, name: Any) -> Account:
        account = self.core.accounts.get(str(name or DEFAULT_ACCOUNT))
        if account is None:
            raise ApiError(404, f"unknown account {name}")
        return account

    def control_contact(self, acc: Account, data: dict[str, Any]) -> Contact:
        c: Contact | None = None
        if data.get("id") is not None:
            number = ascii_int(data["id"])
            if number is None:
                raise ApiError(400, "id must be a number")
            c = acc.by_id(number)
        elif data.get("email"):
            c = acc.by_email(str(data["email"]))
        if c is None:
            raise ApiError(404, "contact not found")
        return c

    def state(self, acc: Account) -> dict[str, Any]:
        return {
            "account": acc.name,
            "newsletter_account_id": acc.newsletter_account_id,
            "contacts": [c.to_json() for c in acc.contacts.values()],
            "custom_fields": [{"name": n, "type": t} for n, t in acc.custom_fields.items()],
            "transaction_types": [t.to_json() for t in acc.transaction_types.values()],
            "transactions": acc.transactions,
            "webhooks": list(acc.webhooks.values()),
            "deliveries": acc.deliveries,
            "unsubscriptions": acc.unsubscriptions,
            "doi_confirmations": acc.doi_confirmations,
            "suppressed": sorted(acc.suppressed),
            "doi_keys": sorted(acc.doi_keys),
            "requests": list(acc.requests),
            "deliveries_in_flight": self.core.inflight,
            "most_requests_in_flight": self.core.faults.most_in_flight,
        }

    async def sim_state(self, request: Request) -> Response:
        acc = self.control_account(request.query_params.get("account"))
        return JSONResponse(self.state(acc))

    async def sim_accounts(self, request: Request) -> Response:
        return JSONResponse({"accounts": sorted(self.core.accounts)})

    async def sim_add_key(self, request: Request) -> Response:
        data = await self.control_body(request)
        key = str(data.get("key") or "")
        if not key:
            raise ApiError(400, "key required")
        methods = data.get("methods") or sorted(ALL_METHODS)
        self.core.add_key(key, str(data.get("account") or DEFAULT_ACCOUNT), methods)
        return JSONResponse(
            {
                "ok": True,
                "key": key,
                "account": self.core.keys[key].account,
                "methods": sorted(self.core.keys[key].methods),
            }
        )

    async def sim_revoke_key(self, request: Request) -> Response:
        data = await self.control_body(request)
        removed = self.core.keys.pop(str(data.get("key")), None)
        if removed is not None:
            self.core.revoked_keys[removed.key] = removed
        return JSONResponse({"ok": True, "revoked": removed is not None})

    async def sim_add_contact(self, request: Request) -> Response:
        """A contact that was in the account before: any permission, fields as given."""
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        email = str(data.get("email") or "")
        if not valid_email(email):
            raise ApiError(400, "a valid email is required")
        if acc.by_email(email) is not None:
            raise ApiError(409, f"a contact with email {email} already exists")
        permission = data.get("permission", 1)
        if not isinstance(permission, int) or permission not in PERMISSION_NAMES:
            raise ApiError(400, "permission must be 1..6")
        custom = data.get("custom_fields")
        custom = {} if custom is None else custom
        if not isinstance(custom, dict):
            raise ApiError(400, "custom_fields must be an object")
        for name in custom:
            acc.custom_fields.setdefault(
                str(name), "boolean" if isinstance(custom[name], bool) else "string"
            )
        std, typed = self.contacts.validate_fields(
            acc, {"standard_fields": data.get("standard_fields"), "custom_fields": custom}
        )
        c = self.contacts.new_contact(
            acc, email, permission, permission > 1, str(data.get("created_by") or "control")
        )
        ext = data.get("external_id")
        c.external_id = None if ext in (None, "") else str(ext)
        self.contacts.apply_fields(c, std, typed)
        return JSONResponse({"ok": True, "contact": c.to_json()})

    async def sim_confirm_doi(self, request: Request) -> Response:
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        c = self.control_contact(acc, data)
        if not c.doi_pending:
            raise ApiError(409, "no pending DOI for this contact")
        self.contacts.confirm_doi(acc, c)
        return JSONResponse({"ok": True, "contact": c.to_json()})

    async def sim_unsubscribe(self, request: Request) -> Response:
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        c = self.control_contact(acc, data)
        record = self.contacts.unsubscribe(
            acc,
            c,
            str(data.get("source") or "link"),
            data.get("mailing_id"),
            [],
            fire=data.get("fire_webhooks", True) is not False,
        )
        return JSONResponse({"ok": True, "unsubscription": record})

    async def sim_doi_key(self, request: Request) -> Response:
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        if not data.get("key"):
            raise ApiError(400, "key required")
        acc.doi_keys.add(str(data["key"]))
        return JSONResponse({"ok": True, "doi_keys": sorted(acc.doi_keys)})

    async def sim_faults(self, request: Request) -> Response:
        data = await read_json(request)
        for spec in data if isinstance(data, list) else [data]:
            if not isinstance(spec, dict):
                raise ApiError(400, "fault spec must be an object")
            try:
                self.core.faults.add(spec)
            except (TypeError, ValueError) as exc:
                raise ApiError(400, f"invalid fault spec: {exc}") from None
        return JSONResponse({"ok": True, "scripted": len(self.core.faults.scripted)})

    async def sim_latency(self, request: Request) -> Response:
        data = await self.control_body(request)
        try:
            self.core.faults.latency_ms = float(data.get("ms") or 0)
        except (TypeError, ValueError):
            raise ApiError(400, "ms must be a number") from None
        return JSONResponse({"ok": True, "latency_ms": self.core.faults.latency_ms})

    async def sim_report_shape(self, request: Request) -> Response:
        """`{"invalid_contact_tag": "contact", "name_invalid_contacts": false}`: how a
        synchronize report names a refused contact inside `<invalid_contacts>`, and whether
        the entry carries its email and external id."""
        data = await self.control_body(request)
        tag = data.get("invalid_contact_tag", self.core.invalid_contact_tag)
        if not isinstance(tag, str) or not tag.isidentifier() or not tag.isascii():
            raise ApiError(400, "invalid_contact_tag must be an XML element name")
        self.core.invalid_contact_tag = tag
        self.core.name_invalid_contacts = bool(data.get("name_invalid_contacts", True))
        return JSONResponse({"ok": True, "invalid_contact_tag": tag})

    async def sim_hold(self, request: Request) -> Response:
        """POST {path, method?, count?}: hold such API requests until /_sim/release. GET: how
        many are held now."""
        if request.method == "POST":
            data = await self.control_body(request)
            if not str(data.get("path") or "").startswith("/"):
                raise ApiError(400, "path must start with /")
            count = ascii_int(data.get("count") or 1)
            if count is None:
                raise ApiError(400, "count must be a number")
            method = data.get("method")
            self.core.faults.hold(str(data["path"]), str(method) if method else None, count)
        return JSONResponse({"ok": True, "held": self.core.faults.held()})

    async def sim_release(self, request: Request) -> Response:
        self.core.faults.release()
        return JSONResponse({"ok": True})

    async def sim_down(self, request: Request) -> Response:
        data = await self.control_body(request)
        self.core.faults.down = bool(data.get("down", True))
        return JSONResponse({"ok": True, "down": self.core.faults.down})

    async def sim_reset_faults(self, request: Request) -> Response:
        self.core.faults.clear()
        return JSONResponse({"ok": True})

    async def sim_reset(self, request: Request) -> Response:
        for acc in self.core.accounts.values():
            acc.reset()
        return JSONResponse({"ok": True})

    async def sim_idle(self, request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            raise ApiError(400, "timeout must be a number") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.core.inflight and loop.time() < deadline:  # noqa: ASYNC110 (simple poll)
            await asyncio.sleep(0.01)
        return JSONResponse({"idle": self.core.inflight == 0, "in_flight": self.core.inflight})
