"""Maileon's XML: building responses and reading request bodies."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring  # building only

import defusedxml.ElementTree as SafeET
from starlette.responses import Response

from sandbox.maileon.model import XML_TYPE, ApiError, Contact, fmt_ts


def xml_bytes(root: Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()


def xml_response(
    root: Element, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(xml_bytes(root), status_code=status, media_type=XML_TYPE, headers=headers)


def id_response(value: int, status: int = 201) -> Response:
    return Response(f"<id>{value}</id>", status_code=status, media_type=XML_TYPE)


def error_xml(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    root = Element("error")
    SubElement(root, "message").text = message
    return xml_response(root, status, headers)


def sub(parent: Element, tag: str, value: Any) -> Element:
    el = SubElement(parent, tag)
    if value is None:
        el.set("nil", "true")
    else:
        el.text = xml_text(value)
    return el


def xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def child_text(el: Any, tag: str) -> tuple[bool, str | None]:
    """(present, text) of a child element; `nil="true"` gives (True, None)."""
    child = el.find(tag)
    if child is None:
        return False, None
    if child.get("nil") == "true":
        return True, None
    return True, (child.text or "")


def parse_xml(body: bytes) -> Any:
    try:
        return SafeET.fromstring(body)
    except Exception as exc:  # defusedxml raises ParseError and its own DefusedXmlException
        raise ApiError(400, f"invalid XML: {exc}") from exc


def fields_from_xml(el: Any, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    container = el.find(tag)
    if container is None:
        return out
    for f in container.findall("field"):
        name = (f.findtext("name") or "").strip()
        present, value = child_text(f, "value")
        out[name] = value if present else None
    return out


def contact_payload_from_xml(el: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "standard_fields": fields_from_xml(el, "standard_fields"),
        "custom_fields": fields_from_xml(el, "custom_fields"),
    }
    for tag in ("email", "external_id", "permission"):
        present, value = child_text(el, tag)
        if present:
            payload[tag] = value.strip() if isinstance(value, str) else value
    return payload


def contact_xml(
    parent: Element | None,
    c: Contact,
    std_names: list[str] | None = None,
    custom_names: list[str] | None = None,
) -> Element:
    el = Element("contact") if parent is None else SubElement(parent, "contact")
    sub(el, "id", c.id)
    sub(el, "email", c.email)
    sub(el, "external_id", c.external_id)
    sub(el, "created", fmt_ts(c.created) + ".0")
    sub(el, "updated", fmt_ts(c.updated) + ".0")
    sub(el, "permission", c.permission)
    std = SubElement(el, "standard_fields")
    derived = {
        "PERMISSION_STATUS": c.permission_status,
        "SENDOUT_STATUS": (
            "allowed" if c.permission_status == "available" and not c.bounce_blocked else "blocked"
        ),
        "CUSTOM_SOURCE": c.src,
    }
    for name in std_names if std_names else sorted(c.standard_fields):
        f = SubElement(std, "field")
        sub(f, "name", name)
        sub(f, "value", derived[name] if name in derived else c.standard_fields.get(name))
    cust = SubElement(el, "custom_fields")
    for name in custom_names if custom_names else sorted(c.custom_fields):
        if c.custom_fields.get(name) is None:
            continue  # custom fields without value are omitted
        f = SubElement(cust, "field")
        sub(f, "name", name)
        sub(f, "value", c.custom_fields[name])
    return el
