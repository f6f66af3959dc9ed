"""The body of Maileon's bulk synchronize (`POST /contacts`), written as text.

ElementTree built a tree of ten elements per contact and then serialized it: about a third of
the import's CPU at 1,000 contacts per call. This writes the same bytes directly (the same
escaping and empty elements as `xml.etree.ElementTree.tostring(...,
encoding="utf-8")`; tests/unit/test_contacts_xml.py compares them)."""

from __future__ import annotations

from typing import Any


def _text(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{_text(text)}</{tag}>" if text else f"<{tag} />"


def _fields(tag: str, fields: list[tuple[str, str]]) -> str:
    if not fields:
        return f"<{tag} />"
    inner = "".join(
        f"<field>{_element('name', name)}{_element('value', value)}</field>"
        for name, value in fields
    )
    return f"<{tag}>{inner}</{tag}>"


def _custom_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def contacts_body(contacts: list[dict[str, Any]]) -> bytes:
    """`<contacts>` with one `<contact>` per {email, external_id, standard_fields,
    custom_fields}; a custom field whose value is unknown (None) is left out, and one sent as ""
    is cleared by Maileon."""
    if not contacts:
        return b"<contacts />"
    parts = ["<contacts>"]
    for contact in contacts:
        parts.append("<contact>")
        parts.append(_element("email", str(contact["email"])))
        if contact.get("external_id"):
            parts.append(_element("external_id", str(contact["external_id"])))
        standard = [
            (name, "" if value is None else str(value))
            for name, value in (contact.get("standard_fields") or {}).items()
        ]
        custom = [
            (name, _custom_value(value))
            for name, value in (contact.get("custom_fields") or {}).items()
            if value is not None  # unknown: left as it is ("" clears the field)
        ]
        parts.append(_fields("standard_fields", standard))
        parts.append(_fields("custom_fields", custom))
        parts.append("</contact>")
    parts.append("</contacts>")
    return "".join(parts).encode()
