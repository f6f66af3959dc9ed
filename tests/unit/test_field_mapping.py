"""Which Maileon field a mapped Pipedrive field writes, and the standard fields' value rules."""

from __future__ import annotations

import pytest

from sync.persons.fields import PersonField, maileon_target, standard_value


@pytest.mark.parametrize(
    ("name", "target", "standard"),
    [
        ("City", "CITY", True),
        ("city", "CITY", True),
        ("ZIP code", "ZIP", True),
        ("Postal code", "ZIP", True),
        ("Country", "COUNTRY", True),
        ("Birthday", "BIRTHDAY", True),
        ("Date of birth", "BIRTHDAY", True),
        ("Gender", "GENDER", True),
        ("Title", "TITLE", True),
        ("Salutation", "SALUTATION", True),
        ("State", "STATE", True),
        ("Region", "REGION", True),
        ("Address", "ADDRESS", True),
        ("House number", "HNR", True),
        ("Email", "Email (Pipedrive)", False),
        ("id", "id (Pipedrive)", False),
        ("External_ID", "External_ID (Pipedrive)", False),
        ("ID", "ID (Pipedrive)", False),
        ("Updated", "Updated (Pipedrive)", False),
        ("ab", "ab (Pipedrive)", False),
        ("First name", "First name", False),
        ("FIRSTNAME", "FIRSTNAME (Pipedrive)", False),
        ("Organization", "Organization (Pipedrive)", False),
        ("createdByPipedrive", "createdByPipedrive (Pipedrive)", False),
        ("Permission_Status", "Permission_Status (Pipedrive)", False),
        ("Lead source", "Lead source", False),
        ("Birthday note", "Birthday note", False),
    ],
)
def test_target(name: str, target: str, standard: bool) -> None:
    assert maileon_target(name).name == target
    assert maileon_target(name).standard is standard


def test_custom_names_stay_within_3_to_64_characters() -> None:
    assert maileon_target("x" * 80).name == "x" * 64
    long_reserved = maileon_target("Email")
    assert 3 <= len(long_reserved.name) <= 64
    assert len(maileon_target("y").name) >= 3


def field(kind: str = "varchar", options: dict[int, str] | None = None) -> PersonField:
    return PersonField("k" * 40, "f", kind, options or {}, True)


@pytest.mark.parametrize(
    ("name", "value", "kind", "expected"),
    [
        ("CITY", "Bonn", "varchar", "Bonn"),
        ("CITY", "x" * 300, "varchar", "x" * 255),
        ("BIRTHDAY", "1980-05-12", "date", "1980-05-12"),
        ("BIRTHDAY", "12/05/1980", "varchar", None),
        ("GENDER", "Female", "varchar", "f"),
        ("GENDER", "m", "varchar", "m"),
        ("GENDER", "Weiblich", "varchar", None),
        ("LOCALE", "de_DE", "varchar", "de_DE"),
        ("LOCALE", "German", "varchar", None),
        ("ZIP", 53111, "int", "53111"),
        ("CITY", "", "varchar", None),
    ],
)
def test_standard_values(name: str, value: object, kind: str, expected: str | None) -> None:
    assert standard_value(name, value, field(kind)) == expected


def test_an_option_label_is_the_standard_value() -> None:
    gender = field("enum", {7: "Male", 8: "Female"})
    assert standard_value("GENDER", 8, gender) == "f"
