"""The synchronize body written as text is byte for byte what ElementTree wrote."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from clients.contacts_xml import contacts_body


def element_tree_body(contacts: list[dict[str, Any]]) -> bytes:
    """The former builder (clients/maileon.py before the text writer)."""
    root = Element("contacts")
    for contact in contacts:
        el = SubElement(root, "contact")
        SubElement(el, "email").text = str(contact["email"])
        if contact.get("external_id"):
            SubElement(el, "external_id").text = str(contact["external_id"])
        standard = SubElement(el, "standard_fields")
        for name, value in (contact.get("standard_fields") or {}).items():
            field = SubElement(standard, "field")
            SubElement(field, "name").text = name
            SubElement(field, "value").text = "" if value is None else str(value)
        custom = SubElement(el, "custom_fields")
        for name, value in (contact.get("custom_fields") or {}).items():
            if value is None:
                continue  # unknown: left as it is ("" clears the field, issue 22)
            field = SubElement(custom, "field")
            SubElement(field, "name").text = name
            SubElement(field, "value").text = (
                ("true" if value else "false") if isinstance(value, bool) else str(value)
            )
    return bytes(tostring(root, encoding="utf-8"))


CONTACTS: list[dict[str, Any]] = [
    {
        "email": "a&b<c>@example.com",
        "external_id": "17",
        "standard_fields": {"FIRSTNAME": "Zoë <Ünïcode> & \"quotes\" 'x'", "LASTNAME": None},
        "custom_fields": {"createdByPipedrive": True, "flag": False, "n": 3, "empty": ""},
    },
    {"email": "plain@example.com", "external_id": "", "standard_fields": {}, "custom_fields": {}},
    {"email": "x@example.com", "standard_fields": {"ORGANIZATION": "O'Brien ]]> Ltd"}},
]


def test_the_text_writer_matches_element_tree() -> None:
    assert contacts_body(CONTACTS) == element_tree_body(CONTACTS)
    assert contacts_body([]) == element_tree_body([])
    assert contacts_body(CONTACTS[1:2]) == element_tree_body(CONTACTS[1:2])
