"""Custom contact fields: list, create, rename, delete."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement  # building only

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import (
    CUSTOM_TYPES,
    READONLY_STANDARD,
    RESERVED_CUSTOM,
    STANDARD_FIELDS,
    Account,
    ApiError,
)
from sandbox.maileon.xmlio import sub, xml_response


class FieldRoutes:
    """Custom field endpoints."""

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        return [
            Route("/contacts/fields/custom", self.list_custom_fields, methods=["GET"]),
            Route("/contacts/fields/custom/{name}", self.create_custom_field, methods=["POST"]),
            Route("/contacts/fields/custom/{name}", self.delete_custom_field, methods=["DELETE"]),
            Route("/contacts/fields/custom/{old}/{new}", self.rename_custom_field, methods=["PUT"]),
        ]

    # -- custom fields ------------------------------------------------------------------------

    async def list_custom_fields(self, request: Request) -> Response:
        root = Element("custom_fields")
        for name, ftype in acc_of(request).custom_fields.items():
            el = SubElement(root, "custom_field")
            sub(el, "name", name)
            sub(el, "type", ftype)
        return xml_response(root)

    @staticmethod
    def check_field_name(acc: Account, name: str) -> None:
        if not 3 <= len(name) <= 64:
            raise ApiError(400, "the field name must contain at least 3 and at most 64 characters")
        if name.upper() in STANDARD_FIELDS + READONLY_STANDARD or name.lower() in RESERVED_CUSTOM:
            raise ApiError(400, f"the field name {name} is reserved")
        if name in acc.custom_fields:
            raise ApiError(409, f"custom field {name} already exists")

    async def create_custom_field(self, request: Request) -> Response:
        acc = acc_of(request)
        name = request.path_params["name"]
        ftype = request.query_params.get("type", "string")
        if ftype not in CUSTOM_TYPES:
            raise ApiError(400, f"invalid type {ftype}; valid: {', '.join(CUSTOM_TYPES)}")
        self.check_field_name(acc, name)
        acc.custom_fields[name] = ftype
        return Response(status_code=201)

    async def delete_custom_field(self, request: Request) -> Response:
        acc = acc_of(request)
        name = request.path_params["name"]
        if acc.custom_fields.pop(name, None) is None:
            raise ApiError(404, f"custom field {name} not found")
        for c in acc.contacts.values():
            c.custom_fields.pop(name, None)
        return Response(status_code=200)

    async def rename_custom_field(self, request: Request) -> Response:
        acc = acc_of(request)
        old, new = request.path_params["old"], request.path_params["new"]
        if old not in acc.custom_fields:
            raise ApiError(404, f"custom field {old} not found")
        self.check_field_name(acc, new)
        acc.custom_fields = {(new if k == old else k): v for k, v in acc.custom_fields.items()}
        for c in acc.contacts.values():
            if old in c.custom_fields:
                c.custom_fields[new] = c.custom_fields.pop(old)
        return Response(status_code=200)
