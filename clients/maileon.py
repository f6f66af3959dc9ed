"""Maileon REST API 1.0: contacts, custom fields, transactions, webhooks, reports.

Writes use JSON where Maileon documents it (contacts, transactions, webhooks); reads and other
resources are XML, parsed with defusedxml. Auth is HTTP Basic with base64(api key).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement, tostring  # building only

import httpx
from defusedxml import ElementTree

from clients import safe_json
from clients.contacts_xml import contacts_body
from clients.digits import ascii_int
from clients.errors import ApiError, NotFound, PermanentError
from clients.http import classify, send

SERVICE = "Maileon"
XML = "application/vnd.maileon.api+xml"
JSON_CONTACT = "application/vnd.maileon.api+json"
PERMISSION_NONE = 1  # a contact that exists for data and transactions but cannot be mailed


@dataclass(frozen=True)
class TransactionType:
    """A transaction type as Maileon describes it: (name, type, required) attributes."""

    id: int
    name: str
    description: str
    attributes: tuple[tuple[str, str, bool], ...]

    def has(self, attribute: str) -> bool:
        return any(name == attribute for name, _, _ in self.attributes)


PERMISSIONS = {
    1: "None",
    2: "Single opt-in",
    3: "Confirmed opt-in",
    4: "Double opt-in",
    5: "Double opt-in plus",
    6: "Other",
}


def path_segment(value: str) -> str:
    return quote(value, safe="")


class MaileonClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.auth_header = "Basic " + base64.b64encode(api_key.encode()).decode()
        self.on_accepted = on_accepted  # told once the key is accepted again

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        content: bytes | None = None,
        content_type: str = XML,
        accept: str = XML,
        http_timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": self.auth_header, "Accept": accept}
        if content is not None:
            headers["Content-Type"] = content_type
        extra: dict[str, Any] = {} if http_timeout is None else {"timeout": http_timeout}
        response = await send(
            SERVICE,
            lambda: self.http.request(
                method,
                f"{self.base}{path}",
                params=params,
                content=content,
                headers=headers,
                **extra,
            ),
        )
        if response.status_code >= 300:
            raise classify(response, SERVICE, _error_message(response))
        if self.on_accepted is not None:
            self.on_accepted()
            self.on_accepted = None
        return response

    async def ping(self, method: str = "GET") -> None:
        await self.request(method, "/ping")

    # --- contacts ---------------------------------------------------------------------
    async def create_contact(
        self,
        email: str,
        *,
        permission: int,
        external_id: str,
        standard_fields: dict[str, str],
        custom_fields: dict[str, Any],
        doi: bool = False,
        doiplus: bool = False,
        doimailing: str = "",
        src: str = "pipedrive",
    ) -> bool:
        """Create a contact that does not exist, with `permission` (and a DOI process when
        `doi`). Sent with `sync_mode=2` (ignore when the address exists), so an existing
        contact is never touched: Maileon applies a permission given on create to an existing
        contact (reference §2.2). True when Maileon answered 201 Created; any other 2xx means
        the address existed meanwhile and nothing was done (UNCONFIRMED which status Maileon
        gives then; a 201 for an ignored create would only mean this call's data is missing
        until the next change)."""
        params: dict[str, str] = {
            "permission": str(permission),
            "sync_mode": "2",
            "src": src,
            "doi": "true" if doi else "false",
        }
        if doi:
            params["doiplus"] = "true" if doiplus else "false"
            if doimailing:
                params["doimailing"] = doimailing
        body = {
            "external_id": external_id,
            "standard_fields": standard_fields,
            "custom_fields": {k: v for k, v in custom_fields.items() if v is not None},
        }
        response = await self.request(
            "POST",
            f"/contacts/email/{path_segment(email)}",
            params=params,
            content=json.dumps(body).encode(),
            content_type=JSON_CONTACT,
        )
        return response.status_code == 201

    async def start_doi(
        self,
        email: str,
        *,
        keep_permission: int,
        doiplus: bool,
        doimailing: str,
        src: str = "pipedrive",
    ) -> None:
        """Start a DOI process for an existing contact without lowering its permission: the
        create call (`sync_mode=1`) carries the contact's own current permission, so Maileon
        keeps it until the recipient confirms."""
        params = {
            "permission": str(keep_permission),
            "sync_mode": "1",
            "src": src,
            "doi": "true",
            "doiplus": "true" if doiplus else "false",
        }
        if doimailing:
            params["doimailing"] = doimailing
        await self.request(
            "POST",
            f"/contacts/email/{path_segment(email)}",
            params=params,
            content=b"{}",
            content_type=JSON_CONTACT,
        )

    async def update_contact(
        self,
        email: str,
        *,
        external_id: str,
        standard_fields: dict[str, str],
        custom_fields: dict[str, Any],
        new_email: str | None = None,
        permission: int | None = None,
    ) -> None:
        """Update an existing contact (404 if none). Without `permission` its permission is
        left as it is; with it, that permission is set (an explicit subscribe only). A field
        sent as "" is cleared, one left out is kept (reference §2.3); None means "leave"."""
        body: dict[str, Any] = {
            "external_id": external_id,
            "standard_fields": standard_fields,
            "custom_fields": {k: v for k, v in custom_fields.items() if v is not None},
        }
        if new_email:
            body["email"] = new_email
        params = {"permission": str(permission)} if permission is not None else None
        await self.request(
            "PUT",
            f"/contacts/email/{path_segment(email)}",
            params=params,
            content=json.dumps(body).encode(),
            content_type=JSON_CONTACT,
        )

    async def get_contact(
        self, email: str, custom_fields: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The contact with this address (permission, PERMISSION_STATUS and the custom fields
        asked for), or None (404)."""
        params = [("standard_field", "PERMISSION_STATUS")]
        params += [("custom_field", name) for name in custom_fields]
        try:
            response = await self.request(
                "GET", f"/contacts/email/{path_segment(email)}", params=params
            )
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

    # --- DOI mailings -----------------------------------------------------------------
    async def has_doi_mailing(self, doi_key: str, limit: int = 20) -> bool | None:
        """Whether one of the account's DOI mailings has this DOI key (reference §5: the DOI
        mailings by type, then each one's key). None when it cannot be told: more than `limit`
        DOI mailings, or an answer not in the documented shape."""
        response = await self.request(
            "GET",
            "/mailings/filter/types",
            params={"types": "doi", "page_index": "1", "page_size": str(limit)},
        )
        root = _xml(response)
        ids = [(m.findtext("id") or "").strip() for m in root.iter("mailing")]
        if root.tag != "mailings" or not all(ascii_int(i) is not None for i in ids):
            return None
        total = ascii_int(response.headers.get("x-items", ""))
        if len(ids) >= limit or (total is not None and total > len(ids)):
            return None
        for mailing_id in ids:
            key_root = _xml(await self.request("GET", f"/mailings/{mailing_id}/settings/doi_key"))
            if key_root.tag != "doi_key":
                return None
            if (key_root.text or "").strip() == doi_key:
                return True
        return False

    # --- custom fields ----------------------------------------------------------------
    async def custom_fields(self) -> dict[str, str]:
        root = _xml(await self.request("GET", "/contacts/fields/custom"))
        return {
            (f.findtext("name") or ""): (f.findtext("type") or "string")
            for f in root.iter("custom_field")
        }

    async def create_custom_field(self, name: str, field_type: str) -> int:
        """Create a custom field; returns Maileon's status. A field that exists already
        (created meanwhile) is fine: Maileon's answer then is UNCONFIRMED (409 or 400), so a
        400 counts as "exists" only when the field list shows it."""
        try:
            response = await self.request(
                "POST", f"/contacts/fields/custom/{path_segment(name)}", params={"type": field_type}
            )
        except ApiError as exc:
            if exc.status == 409 or (exc.status == 400 and name in await self.custom_fields()):
                return exc.status
            raise
        return response.status_code

    # --- transactions -----------------------------------------------------------------
    async def transaction_type(self, name: str) -> TransactionType | None:
        """GET by name ("the name can be used as id"); None when there is no such type."""
        try:
            response = await self.request("GET", f"/transactions/types/{path_segment(name)}")
        except NotFound:
            return None
        root = _xml(response)
        type_id = ascii_int(root.findtext("id"))
        if type_id is None:
            raise PermanentError(f"Maileon described the transaction type {name} without an id")
        attributes = tuple(
            (
                (a.findtext("name") or "").strip(),
                (a.findtext("type") or "").strip(),
                (a.findtext("required") or "").strip().lower() == "true",
            )
            for a in root.iter("attribute")
        )
        return TransactionType(type_id, name, root.findtext("description") or "", attributes)

    async def add_transaction_attributes(
        self, current: TransactionType, added: list[tuple[str, str, bool]]
    ) -> None:
        """PUT the type with its attributes and `added`: Maileon only lets a type gain
        attributes, and wants all the old ones, without their ids, in the body."""
        root = Element("transaction_type")
        SubElement(root, "name").text = current.name
        SubElement(root, "description").text = current.description
        container = SubElement(root, "attributes")
        for attr_name, attr_type, required in [*current.attributes, *added]:
            attr = SubElement(container, "attribute")
            SubElement(attr, "name").text = attr_name
            SubElement(attr, "type").text = attr_type
            SubElement(attr, "required").text = "true" if required else "false"
        await self.request(
            "PUT", f"/transactions/types/{current.id}", content=tostring(root, encoding="utf-8")
        )

    async def find_transaction(self, type_id: int, transaction_id: str) -> dict[str, Any] | None:
        """The transaction of this type whose `transaction_id` attribute is `transaction_id`
        (its content), or None when Maileon holds none."""
        try:
            response = await self.request(
                "GET",
                f"/transactions/{type_id}/transaction_id/{path_segment(transaction_id)}",
                accept="application/json",
            )
        except NotFound:
            return None
        try:
            body = safe_json.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PermanentError("Maileon answered the transaction look-up in an unknown shape")
        return body

    async def create_transaction_type(
        self, name: str, description: str, attributes: list[tuple[str, str, bool]]
    ) -> int:
        """Create a type from (name, type, required) attributes, in the documented XML form;
        returns Maileon's status. A type that exists already (created meanwhile) is fine:
        Maileon's answer then is UNCONFIRMED (409 or 400), so a 400 counts as "exists" only
        when the type can be read by its name."""
        root = Element("transaction_type")
        SubElement(root, "name").text = name
        SubElement(root, "description").text = description
        SubElement(root, "storeOnly").text = "false"
        container = SubElement(root, "attributes")
        for attr_name, attr_type, required in attributes:
            attr = SubElement(container, "attribute")
            SubElement(attr, "name").text = attr_name
            SubElement(attr, "type").text = attr_type
            SubElement(attr, "required").text = "true" if required else "false"
        try:
            response = await self.request(
                "POST", "/transactions/types", content=tostring(root, encoding="utf-8")
            )
        except ApiError as exc:
            if exc.status == 409 or (
                exc.status == 400 and await self.transaction_type(name) is not None
            ):
                return exc.status
            raise
        return response.status_code

    async def send_transaction(
        self,
        type_name: str,
        *,
        email: str,
        content: dict[str, Any],
        answer_within: float | None = None,
    ) -> dict[str, Any]:
        """Send one transaction for the existing contact with this address and return Maileon's
        report for it (check its `queued`; a missing contact reports "contact not found").
        `answer_within`: seconds to wait for the answer (a transaction may take longer than a
        read).

        Never with Maileon's `import` wrapper: it creates a missing contact, which would bring
        back a contact that unsubscribed (Maileon anonymizes it) or that someone deleted. The
        caller creates a contact first when the app may (sync/deals/handler.py). A 2xx without a
        report is treated as not accepted (as Maileon's n8n node does)."""
        item = {"typeName": type_name, "contact": {"email": email}, "content": content}
        response = await self.request(
            "POST",
            "/transactions",
            params={"ignore_invalid_transactions": "true"},
            content=json.dumps([item]).encode(),
            content_type="application/json",
            accept="application/json",
            http_timeout=None
            if answer_within is None
            else httpx.Timeout(answer_within, connect=5.0),
        )
        try:
            reports = safe_json.loads(response.content).get("reports")
        except (ValueError, AttributeError):
            reports = None
        if not isinstance(reports, list) or not reports or not isinstance(reports[0], dict):
            raise PermanentError("Maileon answered the transaction without a report")
        report: dict[str, Any] = reports[0]
        return report

    # --- bulk synchronize ---------------------------------------------------------------
    async def synchronize_contacts(
        self, contacts: list[dict[str, Any]], *, permission: int, sync_mode: int = 1
    ) -> dict[str, Any]:
        """POST /contacts: upsert many contacts in one call (the import, F12).

        Each contact is {email, external_id, standard_fields, custom_fields}. `permission` is
        given only to new contacts (override_permission=false), unsubscribed contacts are never
        re-imported, invalid ones are ignored and listed in the report. `sync_mode=2` creates
        only the new contacts and leaves existing ones alone; 1 updates existing ones too.
        Returns the report as {count_*: int, invalid: [{email, external_id, code, field}],
        readable: bool}. The report's root element
        and its exact shape are UNCONFIRMED, so it is read tolerantly: counts anywhere below
        the root, missing ones as 0."""
        response = await self.request(
            "POST",
            "/contacts",
            params={
                "permission": str(permission),
                "sync_mode": str(sync_mode),
                "use_external_id": "false",
                "ignore_invalid_contacts": "true",
                "reimport_unsubscribed_contacts": "false",
                "override_permission": "false",
            },
            content=contacts_body(contacts),
        )
        return parse_sync_report(_xml(response))

    # --- webhooks and reports ---------------------------------------------------------
    async def list_webhooks(self) -> list[dict[str, Any]]:
        """GET /webhooks (JSON array). Tolerant of a wrapping object (shape only partly
        documented: UNCONFIRMED)."""
        response = await self.request("GET", "/webhooks", accept="application/json")
        try:
            body = safe_json.loads(response.content)
        except ValueError:
            raise PermanentError("Maileon answered the webhook list unreadably") from None
        if isinstance(body, dict):
            body = body.get("webhooks") or body.get("webhook") or []
        return [w for w in body if isinstance(w, dict)] if isinstance(body, list) else []

    async def create_webhook(self, spec: dict[str, Any]) -> int | None:
        """POST /webhooks → 201 with `<id>N</id>`; returns N when it can be read."""
        response = await self.request(
            "POST",
            "/webhooks",
            content=json.dumps(spec).encode(),
            content_type="application/json",
            accept="application/json",
        )
        text = response.text.strip()
        if text.startswith("<"):
            try:
                text = ElementTree.fromstring(response.content).text or ""
            except ElementTree.ParseError:
                text = ""
        return ascii_int("".join(ch for ch in text if ch.isascii() and ch.isdigit()))

    async def delete_webhook(self, webhook_id: int) -> None:
        try:
            await self.request("DELETE", f"/webhooks/{int(webhook_id)}", accept="application/json")
        except NotFound:
            return

    async def ever_unsubscribed(self, email: str) -> bool:
        """Whether Maileon's unsubscription report lists this address (Maileon's own Magento
        module asks the same way: `emails` filter, reference §6.3)."""
        response = await self.request(
            "GET",
            "/reports/unsubscriptions",
            params={"emails": email, "page_index": "1", "page_size": "1"},
        )
        return any(True for _ in _xml(response).iter("unsubscription"))

    async def unsubscriptions(
        self, *, from_ms: int, to_ms: int, page_index: int = 1, page_size: int = 1000
    ) -> list[dict[str, str]]:
        """One page of GET /reports/unsubscriptions (from_date inclusive, to_date exclusive,
        epoch ms): timestamp, contact id / email / external_id, mailing_id, source, msg_id."""
        response = await self.request(
            "GET",
            "/reports/unsubscriptions",
            params={
                "from_date": str(from_ms),
                "to_date": str(to_ms),
                "page_index": str(page_index),
                "page_size": str(page_size),
            },
        )
        out = []
        for item in _xml(response).iter("unsubscription"):
            out.append(
                {
                    "timestamp": (item.findtext("timestamp") or "").strip(),
                    "contact_id": (item.findtext("contact/id") or "").strip(),
                    "email": (item.findtext("contact/email") or "").strip(),
                    "external_id": (item.findtext("contact/external_id") or "").strip(),
                    "mailing_id": (item.findtext("mailing_id") or "").strip(),
                    "source": (item.findtext("source") or "").strip(),
                    "msg_id": (item.findtext("msg_id") or "").strip(),
                }
            )
        return out


def parse_sync_report(root: Element) -> dict[str, Any]:
    """The synchronize report (see `synchronize_contacts`), read tolerantly."""

    def count(name: str) -> int:
        text = (root.findtext(name) or root.findtext(f".//{name}") or "0").strip()
        return ascii_int(text, 9) or 0

    names = (
        "count_contacts",
        "count_new_contacts",
        "count_existing_contacts",
        "count_unsubscribed_contacts",
        "count_invalid_contacts",
    )
    report: dict[str, Any] = {name: count(name) for name in names}
    # readable only when Maileon said how many contacts it processed (shape UNCONFIRMED)
    report["readable"] = root.find(".//count_contacts") is not None
    invalid = [_refused_contact(item) for item in _refused_elements(root)]
    report["invalid"] = invalid
    report["count_invalid_contacts"] = max(report["count_invalid_contacts"], len(invalid))
    # refused contacts the report does not name (no email, no external id): the caller cannot
    # tell which contacts they are, so it counts none of the batch as synced
    report["unnamed_invalid"] = report["count_invalid_contacts"] - sum(
        1 for i in invalid if i["email"] or i["external_id"]
    )
    return report


def _refused_elements(root: Element) -> list[Element]:
    """Every child of `<invalid_contacts>`, whatever its tag (the Java client reads them so;
    examples name them `invalid_contact`, the .NET client `contact`); without that container,
    any `<invalid_contact>`."""
    containers = [root] if root.tag == "invalid_contacts" else list(root.iter("invalid_contacts"))
    if containers:
        return [child for container in containers for child in container]
    return list(root.iter("invalid_contact"))


def _refused_contact(item: Element) -> dict[str, Any]:
    error = item.find("error")
    code = ((error.get("code") or "") if error is not None else "").strip()
    return {
        "email": (item.findtext("email") or "").strip(),
        "external_id": (item.findtext("external_id") or "").strip(),
        "code": ascii_int(code, 5) or 0,
        "field": (item.findtext("error/error_field") or "").strip(),
    }


def parse_contact(root: Element) -> dict[str, Any]:
    fields = {
        (f.findtext("name") or ""): f.findtext("value") or ""
        for f in root.iterfind("standard_fields/field")
    }
    custom = {
        (f.findtext("name") or ""): f.findtext("value") or ""
        for f in root.iterfind("custom_fields/field")
    }
    permission = ascii_int(root.findtext("permission"), max_digits=1) or 1
    return {
        "id": root.findtext("id") or "",
        "email": root.findtext("email") or "",
        "external_id": root.findtext("external_id") or "",
        "permission": permission,
        "standard_fields": fields,
        "custom_fields": custom,
        "updated": root.findtext("updated") or "",
    }


def _xml(response: httpx.Response) -> Element:
    try:
        root: Element = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise PermanentError("Maileon answered with unreadable XML") from None
    return root


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
        body = safe_json.loads(response.content)
    except ValueError:
        return text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:300]
    return ""
