"""Maileon REST API 1.0: contacts, custom fields, transactions, webhooks, reports.

Writes use JSON where Maileon documents it (contacts, transactions, webhooks); reads and other
resources are XML, parsed with defusedxml. Auth is HTTP Basic with base64(api key).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree

from clients.errors import ApiError, NotFound, PermanentError
from clients.http import classify, send

SERVICE = "Maileon"
XML = "application/vnd.maileon.api+xml"
JSON_CONTACT = "application/vnd.maileon.api+json"
PERMISSIONS = {1: "None", 2: "Single opt-in", 3: "Confirmed opt-in", 4: "Double opt-in",
               5: "Double opt-in plus", 6: "Other"}


def path_segment(value: str) -> str:
    return quote(value, safe="")


class MaileonClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.auth_header = "Basic " + base64.b64encode(api_key.encode()).decode()

    async def request(self, method: str, path: str, *, params: Any = None,
                      content: bytes | None = None, content_type: str = XML,
                      accept: str = XML) -> httpx.Response:
        headers = {"Authorization": self.auth_header, "Accept": accept}
        if content is not None:
            headers["Content-Type"] = content_type
        response = await send(SERVICE, lambda: self.http.request(
            method, f"{self.base}{path}", params=params, content=content, headers=headers))
        if response.status_code >= 300:
            raise classify(response, SERVICE, _error_message(response))
        return response

    async def ping(self, method: str = "GET") -> None:
        await self.request(method, "/ping")

    # --- contacts ---------------------------------------------------------------------
    async def upsert_contact(self, email: str, *, permission: int, external_id: str,
                             standard_fields: dict[str, str], custom_fields: dict[str, Any],
                             doi: bool = False, doiplus: bool = False, doimailing: str = "",
                             src: str = "pipedrive") -> None:
        params: dict[str, str] = {"permission": str(permission), "sync_mode": "1", "src": src,
                                  "doi": "true" if doi else "false"}
        if doi:
            params["doiplus"] = "true" if doiplus else "false"
            if doimailing:
                params["doimailing"] = doimailing
        body = {"external_id": external_id,
                "standard_fields": standard_fields,
                "custom_fields": {k: v for k, v in custom_fields.items() if v not in (None, "")}}
        await self.request("POST", f"/contacts/email/{path_segment(email)}", params=params,
                           content=json.dumps(body).encode(), content_type=JSON_CONTACT)

    async def update_contact(self, email: str, *, external_id: str,
                             standard_fields: dict[str, str], custom_fields: dict[str, Any],
                             new_email: str | None = None) -> None:
        """Update data of an existing contact without touching its permission (404 if none)."""
        body: dict[str, Any] = {"external_id": external_id,
                                "standard_fields": standard_fields,
                                "custom_fields": {k: v for k, v in custom_fields.items()
                                                  if v not in (None, "")}}
        if new_email:
            body["email"] = new_email
        await self.request("PUT", f"/contacts/email/{path_segment(email)}",
                           content=json.dumps(body).encode(), content_type=JSON_CONTACT)

    async def get_contact(self, email: str) -> dict[str, Any] | None:
        try:
            response = await self.request(
                "GET", f"/contacts/email/{path_segment(email)}",
                params=[("standard_field", "PERMISSION_STATUS")])
        except NotFound:
            return None
        return parse_contact(_xml(response))

    async def delete_contact(self, email: str) -> None:
        try:
            await self.request("DELETE", f"/contacts/email/{path_segment(email)}")
        except NotFound:
            return

    async def unsubscribe(self, email: str) -> None:
        try:
            await self.request("DELETE", f"/contacts/email/{path_segment(email)}/unsubscribe")
        except NotFound:
            return

    # --- custom fields ----------------------------------------------------------------
    async def custom_fields(self) -> dict[str, str]:
        root = _xml(await self.request("GET", "/contacts/fields/custom"))
        return {(f.findtext("name") or ""): (f.findtext("type") or "string")
                for f in root.iter("custom_field")}

    async def create_custom_field(self, name: str, field_type: str) -> None:
        try:
            await self.request("POST", f"/contacts/fields/custom/{path_segment(name)}",
                               params={"type": field_type})
        except ApiError as exc:
            if exc.status != 409:  # created meanwhile by a concurrent job: fine
                raise


def parse_contact(root: Element) -> dict[str, Any]:
    fields = {(f.findtext("name") or ""): f.findtext("value") or ""
              for f in root.iterfind("standard_fields/field")}
    custom = {(f.findtext("name") or ""): f.findtext("value") or ""
              for f in root.iterfind("custom_fields/field")}
    try:
        permission = int(root.findtext("permission") or 1)
    except ValueError:
        permission = 1
    return {"id": root.findtext("id") or "", "email": root.findtext("email") or "",
            "external_id": root.findtext("external_id") or "", "permission": permission,
            "standard_fields": fields, "custom_fields": custom,
            "updated": root.findtext("updated") or ""}


def _xml(response: httpx.Response) -> Element:
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise PermanentError("Maileon answered with unreadable XML") from None


def _error_message(response: httpx.Response) -> str:
    text = response.text.strip()
    if not text:
        return ""
    if text.startswith("<"):
        try:
            return (ElementTree.fromstring(response.content).findtext("message") or "")[:300]
        except ElementTree.ParseError:
            return ""
    try:
        body = response.json()
    except ValueError:
        return text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:300]
    return ""
