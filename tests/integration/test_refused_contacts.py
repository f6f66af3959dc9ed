"""Refused contacts in a synchronize report (issue #22, item 6): the sources name the children of
`<invalid_contacts>` differently (`invalid_contact` in the derived example, `contact` in the .NET
client, anything for the Java client, which reads every child). Whatever the tag, a refused
contact is not counted as imported and its fingerprint is not saved, so its next change is sent
again."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest

from clients.maileon import parse_sync_report
from tests.harness import Harness
from tests.integration.test_import import start, text, wait_for


@pytest.mark.parametrize("tag", ["invalid_contact", "contact", "refused_contact"])
def test_a_refused_contact_is_not_imported_whatever_the_report_calls_it(
    harness: Harness, tag: str
) -> None:
    harness.ml("POST", "/_sim/report_shape", json={"invalid_contact_tag": tag})
    client = harness.setup_company(contacts_sync=False)
    harness.create_person(name="Ada Fine", email="ada@example.com")
    bad = harness.create_person(name="Bob Refused", email="bob@ex_ample.com")  # Maileon: code 3
    start(harness, client)
    shown = text(wait_for(harness, client, "done"))
    assert "2 of 2 persons processed (100%) · 1 imported · 1 skipped" in shown, shown
    assert "1 skipped: email address not valid" in shown
    assert set(harness.contacts()) == {"ada@example.com"}
    saved = harness.rows("SELECT data_hash FROM persons WHERE person_id=?", (bad["id"],))
    assert saved in ([], [("",)])  # nothing recorded as synced for the refused person


def parse_xml(body: bytes) -> Element:
    root: Element = SafeET.fromstring(body)
    return root


def test_refusals_without_names_leave_the_whole_batch_unconfirmed(harness: Harness) -> None:
    harness.ml("POST", "/_sim/report_shape", json={"name_invalid_contacts": False})
    client = harness.setup_company(contacts_sync=False)
    fine = harness.create_person(name="Ada Fine", email="ada@example.com")
    harness.create_person(name="Bob Refused", email="bob@ex_ample.com")
    start(harness, client)
    shown = text(wait_for(harness, client, "done"))
    assert "2 of 2 persons processed (100%) · 0 imported · 2 skipped" in shown, shown
    assert "refused contacts of its batch without naming them" in shown
    saved = harness.rows("SELECT data_hash FROM persons WHERE person_id=?", (fine["id"],))
    assert saved in ([], [("",)])  # its next change is written again


REPORT = """<report><success>false</success><count_contacts>3</count_contacts>
<count_new_contacts>1</count_new_contacts><count_existing_contacts>0</count_existing_contacts>
<count_unsubscribed_contacts>0</count_unsubscribed_contacts>
<count_invalid_contacts>2</count_invalid_contacts>{invalid}</report>"""
ONE = "<email>{email}</email><external_id>{eid}</external_id>"
ERR = '<error code="3"><error_field>email</error_field></error>'


@pytest.mark.parametrize(
    "invalid",
    [
        "<invalid_contacts><invalid_contact>{a}</invalid_contact>"
        "<invalid_contact>{b}</invalid_contact></invalid_contacts>",
        "<invalid_contacts><contact>{a}</contact><contact>{b}</contact></invalid_contacts>",
        "<invalid_contacts><item>{a}</item><entry>{b}</entry></invalid_contacts>",
        "<details><invalid_contact>{a}</invalid_contact>"
        "<invalid_contact>{b}</invalid_contact></details>",
    ],
    ids=["invalid_contact", "contact", "any tag", "no container"],
)
def test_the_report_is_read_whatever_its_refused_entries_are_called(invalid: str) -> None:
    a = ONE.format(email="a@ex_ample.com", eid="7") + ERR
    b = ONE.format(email="", eid="8") + ERR
    report = parse_sync_report(parse_xml(REPORT.format(invalid=invalid.format(a=a, b=b)).encode()))
    assert [(i["email"], i["external_id"], i["code"]) for i in report["invalid"]] == [
        ("a@ex_ample.com", "7", 3),
        ("", "8", 3),
    ]
    assert report["count_invalid_contacts"] == 2 and report["unnamed_invalid"] == 0


def test_refusals_the_report_does_not_name_are_counted_as_unnamed() -> None:
    report = parse_sync_report(parse_xml(REPORT.format(invalid="").encode()))
    assert report["invalid"] == [] and report["unnamed_invalid"] == 2
