"""Contacts: create, read, update, delete, unsubscribe, DOI."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element  # building only

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.maileon.core import SimCore
from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import (
    INT_RE,
    Account,
    ApiError,
    Contact,
    fmt_ts,
    now_ms,
    valid_date,
    valid_email,
)
from sandbox.maileon.params import paged_headers, paging, q_bool, q_int, q_permission, read_json
from sandbox.maileon.validation import custom_value, std_field_error
from sandbox.maileon.webhooks import WebhookRoutes
from sandbox.maileon.xmlio import (
    contact_payload_from_xml,
    contact_xml,
    id_response,
    parse_xml,
    xml_response,
    xml_text,
)


class ContactRoutes:
    """The contact endpoints and the permission rules behind them."""

    def __init__(self, core: SimCore, webhooks: WebhookRoutes) -> None:
        self.core = core
        self.webhooks = webhooks

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        return [
            Route("/contacts", self.list_contacts, methods=["GET"]),
            Route("/contacts/count", self.count_contacts, methods=["GET"]),
            Route(
                "/contacts/email/{email}/unsubscribe", self.unsubscribe_by_email, methods=["DELETE"]
            ),
            Route("/contacts/email/{email}", self.get_contact, methods=["GET"]),
            Route("/contacts/email/{email}", self.create_contact, methods=["POST"]),
            Route("/contacts/email/{email}", self.update_contact, methods=["PUT"]),
            Route("/contacts/email/{email}", self.delete_by_email, methods=["DELETE"]),
            Route("/contacts/emails/{email}", self.get_contacts_by_email, methods=["GET"]),
            Route(
                "/contacts/externalid/{external_id}/unsubscribe",
                self.unsubscribe_by_external_id,
                methods=["DELETE"],
            ),
            Route(
                "/contacts/externalid/{external_id}",
                self.get_contacts_by_external_id,
                methods=["GET"],
            ),
            Route(
                "/contacts/externalid/{external_id}", self.delete_by_external_id, methods=["DELETE"]
            ),
            Route("/contacts/contact", self.get_contact_by_id, methods=["GET"]),
            Route("/contacts/contact", self.delete_by_id, methods=["DELETE"]),
        ]

    # -- contacts ---------------------------------------------------------------------------

    def validate_fields(
        self, acc: Account, payload: dict[str, Any]
    ) -> tuple[dict[str, str | None], dict[str, Any]]:
        std_in = payload.get("standard_fields") or {}
        custom_in = payload.get("custom_fields") or {}
        if not isinstance(std_in, dict) or not isinstance(custom_in, dict):
            raise ApiError(400, "standard_fields and custom_fields must be key/value maps")
        std: dict[str, str | None] = {}
        for name, value in std_in.items():
            problem = std_field_error(name, value)
            if problem:
                raise ApiError(400, problem[1])
            std[name] = None if value is None or value == "" else xml_text(value)
        custom: dict[str, Any] = {}
        for name, value in custom_in.items():
            if name not in acc.custom_fields:
                raise ApiError(400, f"custom field {name} does not exist")
            custom[name] = custom_value(acc.custom_fields[name], name, value)
        return std, custom

    @staticmethod
    def apply_fields(c: Contact, std: dict[str, str | None], custom: dict[str, Any]) -> None:
        for name, value in std.items():
            if value is None:
                c.standard_fields.pop(name, None)
            else:
                c.standard_fields[name] = value
        for name, value in custom.items():
            if value is None:
                c.custom_fields.pop(name, None)
            else:
                c.custom_fields[name] = value

    def new_contact(
        self, acc: Account, email: str, permission: int, subscribe_intent: bool, source: str
    ) -> Contact:
        """A new contact; an address on the suppression list stays unsubscribed unless the
        caller explicitly subscribes it again (`subscribe_intent`)."""
        c = Contact(id=self.core.next_id("contact"), email=email, permission=permission)
        c.note("created", source=source, permission=permission)
        if email.lower() in acc.suppressed:
            if subscribe_intent:
                acc.suppressed.discard(email.lower())
                c.note("resubscribed", source=source)
            else:
                c.unsubscribed = True
                c.note("kept_unsubscribed", source=source)
        acc.add(c)
        return c

    def set_permission(
        self,
        acc: Account,
        c: Contact,
        permission: int,
        subscribe_intent: bool,
        protect: bool,
        source: str,
    ) -> None:
        if c.unsubscribed:
            if not subscribe_intent:
                c.note("permission_ignored_unsubscribed", requested=permission, source=source)
                return
            c.unsubscribed = False
            if c.email:
                acc.suppressed.discard(c.email.lower())
            c.note("resubscribed", source=source)
        if protect and c.permission in (4, 5) and permission not in (4, 5):
            c.note("permission_downgrade_ignored", requested=permission, source=source)
            return
        if permission != c.permission:
            c.note("permission_changed", old=c.permission, new=permission, source=source)
            c.permission = permission

    def start_doi(self, acc: Account, c: Contact, request: Request) -> None:
        if c.permission in (4, 5) and not c.unsubscribed:
            c.note("doi_skipped_already_confirmed")
            return
        key = request.query_params.get("doimailing") or None
        c.doi_pending = True
        c.doiplus = q_bool(request, "doiplus", False)
        c.doi_mailing = key
        c.doi_mailing_unknown = key is not None and key not in acc.doi_keys
        c.note(
            "doi_started",
            doimailing=key,
            doiplus=c.doiplus,
            doi_mailing_unknown=c.doi_mailing_unknown,
        )

    async def contact_payload(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        ctype = request.headers.get("content-type", "").lower()
        if not body.strip():
            return {}
        if "json" in ctype or (not ctype and body.lstrip()[:1] in (b"{", b"[")):
            data = await read_json(request)
            if not isinstance(data, dict):
                raise ApiError(400, "the body must be a JSON object")
            return data
        root = parse_xml(body)
        if root.tag != "contact":
            raise ApiError(400, f"expected <contact> but got <{root.tag}>")
        return contact_payload_from_xml(root)

    async def create_contact(self, request: Request) -> Response:
        acc = acc_of(request)
        email = request.path_params["email"]
        if not valid_email(email):
            raise ApiError(400, "invalid email")
        permission = q_permission(request)
        sync_mode = q_int(request, "sync_mode", 2, 1, 2)
        doi = q_bool(request, "doi", False)
        q_bool(request, "doiplus", False)
        payload = await self.contact_payload(request)
        body_email = payload.get("email")
        if body_email and str(body_email).lower() != email.lower():
            raise ApiError(400, "email in the body differs from the email in the path")
        std, custom = self.validate_fields(acc, payload)
        ext_present = "external_id" in payload
        ext = payload.get("external_id")
        ext = None if ext in (None, "") else str(ext)
        if ext is not None and len(ext) > 255:
            raise ApiError(400, "external_id must not exceed 255 characters")
        existing = acc.by_email(email)
        intent = doi or (permission is not None and permission > 1)
        if existing is None:
            c = self.new_contact(acc, email, permission or 1, intent, "api")
            c.external_id = ext
            c.src = request.query_params.get("src")
            c.subscription_page = request.query_params.get("subscription_page")
            self.apply_fields(c, std, custom)
            if doi:
                self.start_doi(acc, c, request)
            return id_response(c.id, 201)
        if sync_mode == 2:
            existing.note("create_ignored_sync_mode_2")
            return id_response(existing.id, 200)
        c = existing
        if ext_present:
            c.external_id = ext
        self.apply_fields(c, std, custom)
        # The documented default permission (1) applies when none is sent: whether Maileon
        # really lowers an existing contact then is UNCONFIRMED, so this takes the pessimistic
        # reading. DOI/DOI+ contacts are protected either way (reference §2.1).
        self.set_permission(
            acc, c, permission if permission is not None else 1, intent, protect=True, source="api"
        )
        if doi:
            self.start_doi(acc, c, request)
        if request.query_params.get("src"):
            c.src = request.query_params["src"]
        c.touch()
        c.note("updated", source="api")
        return id_response(c.id, 201)

    async def update_contact(self, request: Request) -> Response:
        acc = acc_of(request)
        c = acc.by_email(request.path_params["email"])
        if c is None:
            raise ApiError(404, "contact not found")
        payload = await self.contact_payload(request)
        std, custom = self.validate_fields(acc, payload)
        new_email = payload.get("email")
        if new_email and str(new_email).lower() != (c.email or "").lower():
            new_email = str(new_email)
            if not valid_email(new_email):
                raise ApiError(400, "invalid email")
            if acc.by_email(new_email) is not None:
                raise ApiError(409, f"a contact with email {new_email} already exists")
        permission = q_permission(request)
        if permission is None and payload.get("permission") not in (None, ""):
            raw = str(payload["permission"])
            if not INT_RE.match(raw) or not 1 <= int(raw) <= 6:
                raise ApiError(400, f"invalid permission {raw}")
            permission = int(raw)
        if new_email and new_email != c.email:
            c.note("email_changed", old=c.email, new=new_email)
            acc.set_email(c, new_email)
        if "external_id" in payload:
            ext = payload["external_id"]
            c.external_id = None if ext in (None, "") else str(ext)
        self.apply_fields(c, std, custom)
        if permission is not None:
            self.set_permission(acc, c, permission, permission > 1, protect=False, source="api")
        c.touch()
        c.note("updated", source="api-put")
        return Response(status_code=201)

    async def get_contact(self, request: Request) -> Response:
        c = acc_of(request).by_email(request.path_params["email"])
        if c is None:
            raise ApiError(404, "contact not found")
        return xml_response(
            contact_xml(
                None,
                c,
                request.query_params.getlist("standard_field"),
                request.query_params.getlist("custom_field"),
            )
        )

    def contacts_response(self, request: Request, contacts: list[Contact]) -> Response:
        root = Element("contacts")
        std = request.query_params.getlist("standard_field")
        custom = request.query_params.getlist("custom_field")
        for c in contacts:
            contact_xml(root, c, std, custom)
        return xml_response(root)

    async def get_contacts_by_email(self, request: Request) -> Response:
        c = acc_of(request).by_email(request.path_params["email"])
        return self.contacts_response(request, [c] if c else [])

    async def get_contacts_by_external_id(self, request: Request) -> Response:
        contacts = acc_of(request).by_external_id(request.path_params["external_id"])
        return self.contacts_response(request, contacts)

    async def get_contact_by_id(self, request: Request) -> Response:
        cid = q_int(request, "id", None)
        c = acc_of(request).by_id(cid) if cid is not None else None
        if c is None:
            raise ApiError(404, "contact not found")
        return xml_response(
            contact_xml(
                None,
                c,
                request.query_params.getlist("standard_field"),
                request.query_params.getlist("custom_field"),
            )
        )

    def hard_delete(self, acc: Account, contacts: list[Contact]) -> Response:
        for c in contacts:
            acc.drop(c)
        return Response(status_code=200)

    async def delete_by_email(self, request: Request) -> Response:
        acc = acc_of(request)
        wanted = request.path_params["email"].lower()
        return self.hard_delete(acc, [c for c in acc.live() if (c.email or "").lower() == wanted])

    async def delete_by_external_id(self, request: Request) -> Response:
        acc = acc_of(request)
        return self.hard_delete(acc, acc.by_external_id(request.path_params["external_id"]))

    async def delete_by_id(self, request: Request) -> Response:
        acc = acc_of(request)
        cid = q_int(request, "id", None)
        c = acc.by_id(cid) if cid is not None else None
        return self.hard_delete(acc, [c] if c else [])

    async def unsubscribe_by_email(self, request: Request) -> Response:
        acc = acc_of(request)
        c = acc.by_email(request.path_params["email"])
        if c is None:
            raise ApiError(404, "contact not found")
        self.unsubscribe(
            acc,
            c,
            "api",
            request.query_params.get("mailingId"),
            request.query_params.getlist("reason"),
            fire=True,
        )
        return Response(status_code=204)

    async def unsubscribe_by_external_id(self, request: Request) -> Response:
        acc = acc_of(request)
        contacts = acc.by_external_id(request.path_params["external_id"])
        if not contacts:
            raise ApiError(404, "contact not found")
        for c in contacts:
            self.unsubscribe(
                acc,
                c,
                "api",
                request.query_params.get("mailingId"),
                request.query_params.getlist("reason"),
                fire=True,
            )
        return Response(status_code=204)

    def unsubscribe(
        self,
        acc: Account,
        c: Contact,
        source: str,
        mailing_id: str | None,
        reasons: list[str],
        fire: bool,
    ) -> dict[str, Any]:
        ts = now_ms()
        snap = c.snapshot()
        msg_id = None if source == "api" else str(secrets.randbelow(10**9))
        record = {
            "id": self.core.next_id("unsubscription"),
            "timestamp": ts,
            "time": fmt_ts(ts),
            "contact_id": c.id,
            "email": c.email,
            "external_id": c.external_id,
            "source": source,
            "mailing_id": mailing_id,
            "reasons": reasons,
            "msg_id": msg_id,
            "webhooks_fired": fire,
        }
        acc.unsubscriptions.append(record)
        if c.email:
            acc.suppressed.add(c.email.lower())
        c.unsubscribed = True
        c.doi_pending = False
        c.note("unsubscribed", source=source, webhooks_fired=fire)
        if fire:
            self.webhooks.fire(
                acc,
                "unsubscription",
                snap,
                {
                    "timestamp": fmt_ts(ts),
                    "msg_id": msg_id,
                    "method": source,
                    "source": source,
                    "mailing_id": mailing_id,
                    "reason": reasons[0] if reasons else None,
                },
            )
        # Maileon anonymizes unsubscribed contacts (asynchronously; here right after firing)
        c.anonymized = True
        acc.set_email(c, None)
        c.standard_fields.clear()
        c.custom_fields.clear()
        c.touch()
        c.note("anonymized")
        return record

    def confirm_doi(self, acc: Account, c: Contact) -> None:
        if c.unsubscribed:
            c.unsubscribed = False
            c.note("resubscribed", source="doi")
        if c.email:
            acc.suppressed.discard(c.email.lower())
        old = c.permission
        c.permission = 5 if c.doiplus else 4
        c.doi_pending = False
        c.touch()
        c.note("doi_confirmed", old=old, new=c.permission, doimailing=c.doi_mailing)
        ts = now_ms()
        msg_id = str(secrets.randbelow(10**9))
        acc.doi_confirmations.append(
            {
                "timestamp": ts,
                "time": fmt_ts(ts),
                "contact_id": c.id,
                "email": c.email,
                "external_id": c.external_id,
                "permission": c.permission,
                "doi_mailing": c.doi_mailing,
            }
        )
        self.webhooks.fire(
            acc,
            "doi",
            c.snapshot(),
            {"timestamp": fmt_ts(ts), "msg_id": msg_id, "method": "link", "source": "link"},
        )

    async def list_contacts(self, request: Request) -> Response:
        index, size = paging(request)
        contacts = self.updated_after(request, list(acc_of(request).live()))
        page = contacts[(index - 1) * size : index * size]
        response = self.contacts_response(request, page)
        paged_headers(request, response, index, size, len(contacts))
        return response

    @staticmethod
    def updated_after(request: Request, contacts: list[Contact]) -> list[Contact]:
        raw = request.query_params.get("updated_after")
        if not raw:
            return contacts
        if not valid_date(raw, True):
            raise ApiError(400, "updated_after must match yyyy-MM-dd HH:mm:ss")
        threshold = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        limit = int(threshold.timestamp() * 1000)
        return [c for c in contacts if c.updated > limit]

    async def count_contacts(self, request: Request) -> Response:
        contacts = self.updated_after(request, list(acc_of(request).live()))
        root = Element("count")
        root.text = str(len(contacts))
        return xml_response(root)
