"""Transaction types and transactions."""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree.ElementTree import Element, SubElement  # building only

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import strict_json
from sandbox.digits import ascii_int
from sandbox.maileon.contacts import ContactRoutes
from sandbox.maileon.core import SimCore
from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import (
    ATTR_TYPES,
    INT_RE,
    MAX_TX_BODY,
    TYPE_NAME_RE,
    Account,
    ApiError,
    Contact,
    TxAttribute,
    TxType,
    fmt_ts,
    now_ms,
    valid_email,
)
from sandbox.maileon.params import paged_headers, paging, q_bool, q_int, read_json
from sandbox.maileon.validation import attribute_error
from sandbox.maileon.xmlio import parse_xml, sub, xml_response


class TransactionRoutes:
    """Transaction type and transaction endpoints."""

    def __init__(self, contacts: ContactRoutes, core: SimCore) -> None:
        self.contacts = contacts
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        return [
            Route("/transactions/types", self.list_types, methods=["GET"]),
            Route("/transactions/types", self.create_type, methods=["POST"]),
            Route("/transactions/types/count", self.count_types, methods=["GET"]),
            Route("/transactions/types/{ref}", self.get_type, methods=["GET"]),
            Route("/transactions/types/{ref}", self.delete_type, methods=["DELETE"]),
            Route("/transactions/types/{ref}", self.update_type, methods=["PUT"]),
            Route("/transactions", self.recent_transactions, methods=["GET"]),
            Route(
                "/transactions/{type_id}/transaction_id/{transaction_id}",
                self.get_transaction,
                methods=["GET"],
            ),
            Route("/transactions", self.create_transactions, methods=["POST"]),
        ]

    # -- transaction types -----------------------------------------------------------------------

    def type_xml(self, parent: Element | None, t: TxType) -> Element:
        el = (
            Element("transaction_type")
            if parent is None
            else SubElement(parent, "transaction_type")
        )
        sub(el, "id", t.id)
        sub(el, "name", t.name)
        sub(el, "description", t.description)
        if t.archiving_duration is not None:
            sub(el, "archivingDuration", t.archiving_duration)
        sub(el, "storeOnly", t.store_only)
        attrs = SubElement(el, "attributes")
        for a in t.attributes:
            a_el = SubElement(attrs, "attribute")
            sub(a_el, "id", a.id)
            sub(a_el, "name", a.name)
            sub(a_el, "description", a.description)
            sub(a_el, "type", a.type)
            sub(a_el, "required", a.required)
        return el

    async def list_types(self, request: Request) -> Response:
        index, size = paging(request, default_size=10)
        types = list(acc_of(request).transaction_types.values())
        root = Element("transaction_types")
        for t in types[(index - 1) * size : index * size]:
            self.type_xml(root, t)
        response = xml_response(root)
        paged_headers(request, response, index, size, len(types))
        return response

    async def count_types(self, request: Request) -> Response:
        root = Element("count")
        root.text = str(len(acc_of(request).transaction_types))
        return xml_response(root)

    async def get_type(self, request: Request) -> Response:
        t = acc_of(request).tx_type(request.path_params["ref"])
        if t is None:
            raise ApiError(404, "transaction type not found")
        return xml_response(self.type_xml(None, t))

    async def delete_type(self, request: Request) -> Response:
        acc = acc_of(request)
        t = acc.tx_type(request.path_params["ref"])
        if t is None:
            raise ApiError(404, "transaction type not found")
        del acc.transaction_types[t.id]
        return Response(status_code=200)

    async def update_type(self, request: Request) -> Response:
        """A type can only gain attributes (and change name, description, archiving); the
        body must contain every old attribute, without attribute ids (the clients'
        `sanitize`)."""
        acc = acc_of(request)
        t = acc.tx_type(request.path_params["ref"])
        if t is None:
            raise ApiError(404, "transaction type not found")
        root = parse_xml(await request.body())
        if root.tag != "transaction_type":
            raise ApiError(400, f"expected <transaction_type> but got <{root.tag}>")
        container = root.find("attributes")
        if container is not None and any(a.find("id") is not None for a in container):
            raise ApiError(400, "attribute ids must be removed before an update")
        spec = self.type_spec_from_xml(root)
        given = {a["name"]: a for a in spec["attributes"]}
        for old in t.attributes:
            if old.name not in given or given[old.name]["type"] != old.type:
                raise ApiError(400, f"the update must contain the attribute {old.name} as it is")
        known = {a.name for a in t.attributes}
        added = [a for a in spec["attributes"] if a["name"] not in known]
        checked = self.build_type(
            acc, {**spec, "name": f"check{t.id}x", "attributes": added, "archivingDuration": None}
        )
        t.attributes.extend(checked.attributes)
        if spec["name"]:
            t.name = spec["name"]
        t.description = spec["description"]
        return Response(status_code=200)

    async def create_type(self, request: Request) -> Response:
        acc = acc_of(request)
        body = await request.body()
        ctype = request.headers.get("content-type", "").lower()
        if "json" in ctype:
            data = await read_json(request)
            if not isinstance(data, dict):
                raise ApiError(400, "the body must be a JSON object")
            spec = self.type_spec_from_json(data)
        else:
            root = parse_xml(body)
            if root.tag != "transaction_type":
                raise ApiError(400, f"expected <transaction_type> but got <{root.tag}>")
            spec = self.type_spec_from_xml(root)
        t = self.build_type(acc, spec)
        acc.transaction_types[t.id] = t
        return Response(str(t.id), status_code=201, media_type="text/plain")

    @staticmethod
    def type_spec_from_xml(root: Any) -> dict[str, Any]:
        attrs = []
        container = root.find("attributes")
        for a in container.findall("attribute") if container is not None else []:
            attrs.append(
                {
                    "name": (a.findtext("name") or "").strip(),
                    "type": (a.findtext("type") or "").strip(),
                    "required": (a.findtext("required") or "false").strip(),
                    "description": a.findtext("description") or "",
                }
            )
        return {
            "name": (root.findtext("name") or "").strip(),
            "description": root.findtext("description") or "",
            "archivingDuration": root.findtext("archivingDuration"),
            "storeOnly": root.findtext("storeOnly"),
            "attributes": attrs,
        }

    @staticmethod
    def type_spec_from_json(data: dict[str, Any]) -> dict[str, Any]:
        attrs = data.get("attributes") or []
        if not isinstance(attrs, list) or not all(isinstance(a, dict) for a in attrs):
            raise ApiError(400, "attributes must be a list of objects")
        return {
            "name": str(data.get("name") or ""),
            "description": str(data.get("description") or ""),
            "archivingDuration": data.get("archivingDuration"),
            "storeOnly": data.get("storeOnly"),
            "attributes": [
                {
                    "name": str(a.get("name") or ""),
                    "type": str(a.get("type") or ""),
                    "required": a.get("required", False),
                    "description": str(a.get("description") or ""),
                }
                for a in attrs
            ],
        }

    def build_type(self, acc: Account, spec: dict[str, Any]) -> TxType:
        name = spec["name"]
        levels = name.split(".")
        if (
            not name
            or len(name) > 255
            or not TYPE_NAME_RE.match(name)
            or any(not lv or len(lv) > 32 for lv in levels)
        ):
            raise ApiError(
                400,
                f"invalid transaction type name '{name}': must start with a "
                "letter, contain only letters, digits, _ and . (levels of at "
                "most 32 characters, 255 in total)",
            )
        if any(t.name == name for t in acc.transaction_types.values()):
            raise ApiError(409, f"transaction type {name} already exists")
        if len(spec["description"]) > 1000:
            raise ApiError(400, "description must not exceed 1000 characters")
        duration = spec.get("archivingDuration")
        if duration in (None, ""):
            duration = None
        elif not INT_RE.match(str(duration).strip()):
            raise ApiError(400, "archivingDuration must be an integer")
        store_only = str(spec.get("storeOnly")).lower() == "true"
        attributes: list[TxAttribute] = []
        for a in spec["attributes"]:
            if not a["name"]:
                raise ApiError(400, "attribute name missing")
            if a["type"] not in ATTR_TYPES:
                raise ApiError(
                    400,
                    f"invalid attribute type '{a['type']}' for {a['name']}; "
                    f"valid: {', '.join(ATTR_TYPES)}",
                )
            if any(x.name == a["name"] for x in attributes):
                raise ApiError(400, f"duplicate attribute {a['name']}")
            required = a["required"] is True or str(a["required"]).lower() == "true"
            attributes.append(
                TxAttribute(
                    self.core.next_id("attribute"), a["name"], a["type"], required, a["description"]
                )
            )
        return TxType(
            self.core.next_id("transaction_type"),
            name,
            spec["description"],
            int(duration) if duration is not None else None,
            store_only,
            attributes,
        )

    # -- transactions -----------------------------------------------------------------------------

    async def create_transactions(self, request: Request) -> Response:
        acc = acc_of(request)
        ctype = request.headers.get("content-type", "").lower()
        if not ctype.startswith("application/json"):
            raise ApiError(415, "media type must be application/json")
        length = request.headers.get("content-length", "")
        if (ascii_int(length) or 0) > MAX_TX_BODY:
            raise ApiError(413, f"request entity larger than {MAX_TX_BODY} bytes")
        body = await request.body()
        if len(body) > MAX_TX_BODY:
            raise ApiError(413, f"request entity larger than {MAX_TX_BODY} bytes")
        ignore_invalid = q_bool(request, "ignore_invalid_transactions", True)
        generate = q_bool(request, "generate_transaction_id", False)
        try:
            items = strict_json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise ApiError(400, "the body must be a JSON array of transactions")
        checked = [self.check_transaction(acc, item) for item in items]
        if not ignore_invalid and any(problem for _, problem in checked):
            reports = [
                self.tx_report(item, None, problem or "not processed (batch rejected)")
                for item, problem in checked
            ]
            raise ApiError(400, "invalid transactions", JSONResponse({"reports": reports}, 400))
        reports = []
        for item, problem in checked:
            if problem:
                reports.append(self.tx_report(item, None, problem))
                continue
            reports.append(self.store_transaction(acc, item, generate))
        return JSONResponse({"reports": reports}, status_code=201)

    @staticmethod
    def tx_contact_ref(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            return {}
        imp = item.get("import")
        if isinstance(imp, dict) and isinstance(imp.get("contact"), dict):
            ref: dict[str, Any] = imp["contact"]
            return ref
        contact = item.get("contact")
        return contact if isinstance(contact, dict) else {}

    def tx_report(self, item: Any, c: Contact | None, problem: str | None) -> dict[str, Any]:
        if c is not None:
            contact = {"id": c.id, "email": c.email, "external_id": c.external_id}
        else:
            ref = self.tx_contact_ref(item)
            contact = {k: ref[k] for k in ("id", "email", "external_id") if k in ref}
        report: dict[str, Any] = {"contact": contact, "queued": problem is None}
        if problem is not None:
            report["message"] = problem
        return report

    def find_tx_contact(self, acc: Account, ref: dict[str, Any]) -> Contact | None:
        if ref.get("id") not in (None, ""):
            number = ascii_int(ref["id"])
            return None if number is None else acc.by_id(number)
        if ref.get("email"):
            return acc.by_email(str(ref["email"]))
        if ref.get("external_id") not in (None, ""):
            matches = acc.by_external_id(str(ref["external_id"]))
            return matches[0] if matches else None
        return None

    def check_transaction(self, acc: Account, item: Any) -> tuple[Any, str | None]:
        if not isinstance(item, dict):
            return item, "transaction must be a JSON object"
        t = self.resolve_type(acc, item)
        if t is None:
            return item, "transaction type not found"
        content = item.get("content") or {}
        if not isinstance(content, dict):
            return item, "content must be a JSON object"
        problem = self.content_error(t, content)
        if problem:
            return item, problem
        imp = item.get("import")
        if imp is not None:
            return item, self.import_error(acc, imp)
        return item, self.contact_error(acc, item.get("contact"))

    @staticmethod
    def content_error(t: TxType, content: dict[str, Any]) -> str | None:
        """Unknown, invalid or missing attributes of the transaction's content."""
        attrs = {a.name: a for a in t.attributes}
        for name, value in content.items():
            if name not in attrs:
                return f"unknown attribute {name} for transaction type {t.name}"
            if value is not None:
                problem = attribute_error(attrs[name], value, t.store_only)
                if problem:
                    return problem
        for a in t.attributes:
            if a.required and content.get(a.name) is None:
                return f"required attribute {a.name} missing"
        return None

    def import_error(self, acc: Account, imp: Any) -> str | None:
        """An `import` block: its contact exists, or can be created from it."""
        ref = imp.get("contact") if isinstance(imp, dict) else None
        if not isinstance(ref, dict):
            return "import must contain a contact"
        if self.find_tx_contact(acc, ref) is not None:
            return None
        email = str(ref.get("email") or "")
        if not email:
            return "contact not found (import needs an email)"
        if not valid_email(email):
            return "invalid email"
        perm = ref.get("permission", 1)
        if not isinstance(perm, int) or isinstance(perm, bool) or not 1 <= perm <= 6:
            return "invalid permission"
        return None

    def contact_error(self, acc: Account, ref: Any) -> str | None:
        """A plain `contact` reference: given, and found."""
        if not isinstance(ref, dict) or not any(ref.get(k) for k in ("id", "email", "external_id")):
            return "contact missing"
        if self.find_tx_contact(acc, ref) is None:
            return "contact not found"
        return None

    @staticmethod
    def resolve_type(acc: Account, item: dict[str, Any]) -> TxType | None:
        if item.get("type") not in (None, ""):
            ref = item["type"]
            number = ascii_int(ref)
            return None if number is None else acc.tx_type(number)
        if item.get("typeName"):
            return acc.tx_type(str(item["typeName"]))
        return None

    def store_transaction(
        self, acc: Account, item: dict[str, Any], generate: bool
    ) -> dict[str, Any]:
        t = self.resolve_type(acc, item)
        assert t is not None
        c: Contact | None
        if item.get("import") is not None:
            ref = item["import"]["contact"]
            c = self.find_tx_contact(acc, ref)
            if c is None:
                perm = int(ref.get("permission", 1))
                c = self.contacts.new_contact(
                    acc, str(ref["email"]), perm, False, "transaction-import"
                )
                if ref.get("external_id") not in (None, ""):
                    c.external_id = str(ref["external_id"])
        else:
            c = self.find_tx_contact(acc, item["contact"])
        assert c is not None
        content = dict(item.get("content") or {})
        report = self.tx_report(item, c, None)
        if (
            generate
            and any(a.name == "transaction_id" for a in t.attributes)
            and (content.get("transaction_id") in (None, ""))
        ):
            content["transaction_id"] = uuid.uuid4().hex
        if content.get("transaction_id") not in (None, ""):
            report["transaction_id"] = content["transaction_id"]
        ts = now_ms()
        acc.transactions.append(
            {
                "id": self.core.next_id("transaction"),
                "type_id": t.id,
                "type_name": t.name,
                "contact_id": c.id,
                "email": c.email,
                "external_id": c.external_id,
                "content": content,
                "timestamp": ts,
                "time": fmt_ts(ts),
            }
        )
        return report

    async def get_transaction(self, request: Request) -> Response:
        """One transaction by the type's numeric id and its `transaction_id` attribute: its
        content (examples/maileon/get-transaction.response.json); 404 when none has it."""
        acc = acc_of(request)
        ref = request.path_params["type_id"]
        number = ascii_int(ref)
        t = None if number is None else acc.tx_type(number)
        if t is None:
            raise ApiError(404, "transaction type not found")
        wanted = request.path_params["transaction_id"]
        for tx in acc.transactions:
            if tx["type_id"] == t.id and str(tx["content"].get("transaction_id")) == wanted:
                return JSONResponse(tx["content"])
        raise ApiError(404, "transaction not found")

    async def recent_transactions(self, request: Request) -> Response:
        acc = acc_of(request)
        type_id = q_int(request, "type_id", None)
        if type_id is None:
            raise ApiError(400, "type_id is required")
        count = q_int(request, "count", 1000, 1, 2000)
        matching = [tx for tx in acc.transactions if tx["type_id"] == type_id][-(count or 1) :]
        return JSONResponse(
            [
                {
                    "tx": tx["content"],
                    "txId": tx["id"],
                    "contactId": tx["contact_id"],
                    "email": tx["email"],
                }
                for tx in matching
            ]
        )
