"""Mapped Pipedrive fields whose names Maileon reserves (issue #12): City goes to the standard
field CITY, a reserved or too short name to a valid custom name shown in the settings, and a
value Maileon refuses loses only that field of that person."""

from __future__ import annotations

import html

from tests.harness import COMPANY, Harness
from tests.integration.test_import import start, wait_for


def add_field(harness: Harness, name: str, field_type: str = "varchar") -> str:
    """A person custom field the customer created in Pipedrive (simulator set-up)."""
    key: str = harness.pipedrive._add_field(COMPANY, name, field_type, None)["key"]
    return key


def test_reserved_field_names_sync_and_a_refused_value_loses_only_that_field(
    harness: Harness,
) -> None:
    city, email, short, staff = (
        add_field(harness, "City"),
        add_field(harness, "Email"),
        add_field(harness, "ID"),
        add_field(harness, "Employees", "int"),
    )
    client = harness.setup_company(
        custom_field_1=city, custom_field_2=email, custom_field_3=short, custom_field_4=staff
    )
    page = html.unescape(client.get(f"{harness.app_url}/settings").text)
    assert "Writes Maileon standard field CITY" in page
    assert 'Writes Maileon custom field "Email (Pipedrive)"' in page
    assert 'Writes Maileon custom field "ID (Pipedrive)"' in page
    assert 'Writes Maileon custom field "Employees"' in page

    too_big = harness.create_person(
        name="Ada Big",
        email="ada@example.com",
        custom_fields={
            city: "Bonn",
            email: "ada.private@example.org",
            short: "X-1",
            staff: 99_999_999_999,
        },
    )
    harness.create_person(
        name="Ben Fine", email="ben@example.com", custom_fields={city: "Köln", staff: 12}
    )
    harness.settle()
    contacts = harness.contacts()
    ada, ben = contacts["ada@example.com"], contacts["ben@example.com"]
    assert ada["standard_fields"]["CITY"] == "Bonn"
    assert ada["custom_fields"]["Email (Pipedrive)"] == "ada.private@example.org"
    assert ada["custom_fields"]["ID (Pipedrive)"] == "X-1"
    assert "Employees" not in ada["custom_fields"]  # Maileon refused 99999999999 (32 bit)
    assert ben["standard_fields"]["CITY"] == "Köln" and ben["custom_fields"]["Employees"] == 12
    logged = harness.rows(
        "SELECT result, message FROM sync_log WHERE kind='person' AND entity_id=?",
        (str(too_big["id"]),),
    )
    assert logged and logged[-1][0] == "ok" and "refused Employees" in logged[-1][1]
    assert not harness.rows("SELECT 1 FROM jobs WHERE state='failed'")
    custom = {f["name"] for f in harness.ml("GET", "/_sim/state")["custom_fields"]}
    assert "City" not in custom and "Email" not in custom


def test_the_import_keeps_a_contact_whose_one_value_maileon_refuses(harness: Harness) -> None:
    city, staff = add_field(harness, "City"), add_field(harness, "Employees", "int")
    client = harness.setup_company(contacts_sync=False, custom_field_1=city, custom_field_2=staff)
    harness.create_person(
        name="Ada Big", email="ada@example.com", custom_fields={city: "Bonn", staff: 99_999_999_999}
    )
    harness.create_person(
        name="Ben Fine", email="ben@example.com", custom_fields={city: "Köln", staff: 12}
    )
    start(harness, client)
    assert "2 imported" in wait_for(harness, client, "done", timeout=30)
    contacts = harness.contacts()
    assert contacts["ada@example.com"]["standard_fields"]["CITY"] == "Bonn"
    assert "Employees" not in contacts["ada@example.com"]["custom_fields"]
    assert contacts["ben@example.com"]["custom_fields"]["Employees"] == 12
