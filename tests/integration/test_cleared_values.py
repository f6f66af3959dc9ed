"""A value cleared in Pipedrive is cleared in Maileon (issue #22, item 1): Maileon keeps a field
that is omitted and clears one sent as "", so the app sends "" for every mapped field that is
now empty, on the single update and on the import's synchronize."""

from __future__ import annotations

from typing import Any

from tests.harness import COMPANY, Harness
from tests.integration.test_field_mapping import add_field
from tests.integration.test_import import start, wait_for


def filled_person(harness: Harness, city: str, segment: str, staff: str) -> dict[str, Any]:
    org = harness.pd("POST", "/_sim/organizations", json={"company_id": COMPANY, "name": "Acme"})
    return harness.create_person(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        org_id=org["id"],
        custom_fields={city: "Bonn", segment: "Gold", staff: 12},
    )


def clear(harness: Harness, person_id: int, city: str, segment: str, staff: str) -> None:
    harness.pd(
        "PATCH",
        f"/_sim/persons/{person_id}",
        json={
            "first_name": "Ada",
            "last_name": "",
            "org_id": None,
            "custom_fields": {city: None, segment: None, staff: None},
        },
    )


def assert_filled(contact: dict[str, Any]) -> None:
    std, custom = contact["standard_fields"], contact["custom_fields"]
    assert std["LASTNAME"] == "Lovelace" and std["ORGANIZATION"] == "Acme"
    assert std["CITY"] == "Bonn"
    assert custom["Segment"] == "Gold" and custom["Employees"] == 12


def assert_cleared(contact: dict[str, Any]) -> None:
    std, custom = contact["standard_fields"], contact["custom_fields"]
    assert std.get("LASTNAME") in (None, "") and std.get("ORGANIZATION") in (None, "")
    assert std.get("CITY") in (None, ""), std
    assert custom.get("Segment") in (None, ""), custom
    assert custom.get("Employees") in (None, ""), custom
    assert std["FIRSTNAME"] == "Ada"  # what is still set stays


def mapped_fields(harness: Harness) -> tuple[str, str, str]:
    return (
        add_field(harness, "City"),
        add_field(harness, "Segment"),
        add_field(harness, "Employees", "int"),
    )


def test_values_emptied_in_pipedrive_are_emptied_in_maileon(harness: Harness) -> None:
    city, segment, staff = mapped_fields(harness)
    harness.setup_company(custom_field_1=city, custom_field_2=segment, custom_field_3=staff)
    person = filled_person(harness, city, segment, staff)
    harness.settle()
    assert_filled(harness.contacts()["ada@example.com"])

    clear(harness, person["id"], city, segment, staff)
    harness.settle()
    assert_cleared(harness.contacts()["ada@example.com"])
    assert not harness.rows("SELECT 1 FROM jobs WHERE state='failed'")


def test_the_import_empties_what_was_emptied_in_pipedrive(harness: Harness) -> None:
    city, segment, staff = mapped_fields(harness)
    client = harness.setup_company(
        contacts_sync=False, custom_field_1=city, custom_field_2=segment, custom_field_3=staff
    )
    person = filled_person(harness, city, segment, staff)
    start(harness, client)
    assert "1 imported" in wait_for(harness, client, "done")
    assert_filled(harness.contacts()["ada@example.com"])

    clear(harness, person["id"], city, segment, staff)
    harness.settle()
    start(harness, client)
    assert "1 imported" in wait_for(harness, client, "done")
    assert_cleared(harness.contacts()["ada@example.com"])
