"""Field mapping beyond five same-named custom fields (F16, issue #28): Pipedrive's own person
fields (phone, the organization's address parts), a chosen Maileon target (standard or custom),
more than five slots, a re-send after a changed mapping, and clear messages for bad mappings."""

from __future__ import annotations

import html
import json
from typing import Any

from sqlite_utils import Database

from store.migrations import migrations
from tests.harness import ADMIN, COMPANY, MAILEON_KEY, Harness
from tests.integration.test_field_mapping import add_field
from tests.integration.test_import import hx, wait_for


def slots(*mapped: tuple[str, str, str]) -> dict[str, Any]:
    """The form fields of the mapping slots: (Pipedrive field, target kind, target name)."""
    form: dict[str, Any] = {"field_count": max(5, len(mapped))}
    for i, (source, kind, name) in enumerate(mapped, start=1):
        form.update(
            {f"custom_field_{i}": source, f"target_kind_{i}": kind, f"target_name_{i}": name}
        )
    return form


def mapped(harness: Harness) -> list[str]:
    """The Pipedrive fields the stored settings map."""
    stored = harness.rows("SELECT custom_fields FROM settings WHERE company_id=?", (COMPANY,))
    return [k for k in json.loads(stored[0][0]) if k]


def org_with_address(harness: Harness) -> dict[str, Any]:
    return harness.pd(  # type: ignore[no-any-return]
        "POST",
        "/_sim/organizations",
        json={
            "company_id": COMPANY,
            "name": "Acme GmbH",
            "address": {
                "value": "Hauptstr. 5, 53111 Bonn, Germany",
                "route": "Hauptstr.",
                "street_number": "5",
                "postal_code": "53111",
                "locality": "Bonn",
                "country": "Germany",
            },
        },
    )


def test_phone_org_city_and_a_sixth_field_reach_maileon_and_a_changed_target_is_resent(
    harness: Harness,
) -> None:
    names = ["Segment", "Tier", "Region code", "Source", "Score"]
    keys = [add_field(harness, n) for n in names]
    form = slots(
        ("pd:phone", "custom", "Phone number"),
        ("pd:org_city", "standard", "city"),
        ("pd:org_zip", "standard", "ZIP"),
        *((k, "", "") for k in keys[:3]),
    )
    client = harness.setup_company(**form)
    page = html.unescape(client.get(f"{harness.app_url}/settings").text)
    assert "Custom field 6" in page
    assert 'Writes Maileon custom field "Phone number"' in page
    assert "Writes Maileon standard field CITY" in page

    org = org_with_address(harness)
    person = harness.create_person(
        name="Ada Lovelace",
        email="ada@example.com",
        phones=[{"value": "+49 228 1234", "primary": True, "label": "work"}],
        org_id=org["id"],
        custom_fields={keys[0]: "Gold", keys[2]: "R-7"},
    )
    harness.settle()
    ada = harness.contacts()["ada@example.com"]
    assert ada["custom_fields"]["Phone number"] == "+49 228 1234"
    assert ada["standard_fields"]["CITY"] == "Bonn" and ada["standard_fields"]["ZIP"] == "53111"
    assert ada["custom_fields"]["Segment"] == "Gold"
    assert ada["custom_fields"]["Region code"] == "R-7"  # the sixth slot
    permission = ada["permission"]

    # a value cleared in Pipedrive is cleared in Maileon (sent as "")
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"phones": []})
    harness.settle()
    assert "Phone number" not in harness.contacts()["ada@example.com"]["custom_fields"]
    harness.pd("PATCH", f"/_sim/persons/{person['id']}", json={"phones": ["+49 228 99"]})
    harness.settle()

    # Slot 4 (Segment) now writes a new custom field "Customer segment": the save offers a
    # re-send, which runs as an import of the persons already synced.
    form[f"target_kind_{4}"], form[f"target_name_{4}"] = "custom", "Customer segment"
    r = harness.save_settings(client, **form)
    assert r.status_code == 200 and "Settings saved" in r.text, r.text
    assert "Re-send mapped fields for all synced persons" in r.text
    assert "custom field 4" in r.text
    harness.create_person(name="Not Synced", email="")  # no contact: a re-send adds nobody
    r = client.post(
        f"{harness.app_url}/settings/import/start", data={"resend": "1"}, headers=hx(harness)
    )
    assert r.status_code == 200 and "Re-sending the mapped fields" in r.text
    wait_for(harness, client, "done", timeout=30)
    ada = harness.contacts()["ada@example.com"]
    assert ada["custom_fields"]["Customer segment"] == "Gold"
    assert ada["custom_fields"]["Phone number"] == "+49 228 99"
    assert ada["permission"] == permission  # a re-send never touches a permission
    assert len(harness.contacts()) == 1


def test_bad_mappings_get_clear_messages(harness: Harness) -> None:
    segment, town = add_field(harness, "Segment"), add_field(harness, "Town")
    client = harness.setup_company()
    cases = [
        (slots(("pd:phone", "standard", "PHONE")), "Maileon has no standard field PHONE"),
        (
            slots(("pd:org_city", "standard", "CITY"), (town, "", "")),
            "Custom field 2 and Custom field 1 both write Maileon standard field CITY",
        ),
        (slots((segment, "custom", "id")), 'Maileon refuses a custom field named "id"'),
        (slots((segment, "standard", "BIRTHDAY")), "BIRTHDAY takes only dates"),
        (slots(("0" * 40, "", "")), "its Pipedrive field no longer exists"),
        (
            slots((segment, "custom", "Headcount")),
            'Maileon\'s custom field "Headcount" holds integer values, Segment gives string',
        ),
    ]
    # a custom field the Maileon account has already, of another type
    harness.ml(
        "POST",
        "/1.0/contacts/fields/custom/Headcount",
        params={"type": "integer"},
        auth=(MAILEON_KEY, ""),
    )
    for form, message in cases:
        r = harness.save_settings(client, **form)
        assert r.status_code == 422, (form, r.text)
        assert message in html.unescape(r.text), (message, r.text)
    assert mapped(harness) == []  # nothing bad was stored


def test_a_field_deleted_in_pipedrive_since_shows_in_the_health_card(harness: Harness) -> None:
    segment = add_field(harness, "Segment")
    client = harness.setup_company(**slots((segment, "", "")))
    core = harness.pipedrive.core
    with core.lock:
        fid = next(i for i, f in core.person_fields.items() if f["key"] == segment)
        del core.person_fields[fid]
    # the admin opens the settings: Pipedrive's fields are read afresh
    assert client.get(f"{harness.app_url}/settings").status_code == 200
    card = html.unescape(client.get(f"{harness.app_url}/settings/health", headers=hx(harness)).text)
    assert "Custom field 1: its Pipedrive field no longer exists in Pipedrive." in card


def test_a_field_added_in_pipedrive_is_offered_when_the_settings_open(harness: Harness) -> None:
    client = harness.setup_company()
    add_field(harness, "Loyalty tier")
    page = client.get(f"{harness.app_url}/settings")
    assert ">Loyalty tier<" in html.unescape(page.text)


def test_add_field_and_remove_edit_the_slots_without_saving(harness: Harness) -> None:
    segment, tier = add_field(harness, "Segment"), add_field(harness, "Tier")
    client = harness.setup_company(**slots((segment, "", ""), (tier, "", "")))
    r = harness.save_settings(client, add_field="1", **slots((segment, "", ""), (tier, "", "")))
    assert r.status_code == 200 and "Custom field 6" in r.text and "Not saved yet" in r.text
    r = harness.save_settings(client, remove_field="1", **slots((segment, "", ""), (tier, "", "")))
    assert "Not saved yet" in r.text
    assert mapped(harness) == [segment, tier]
    r = harness.save_settings(client, **slots((tier, "", "")))
    assert "Settings saved" in r.text
    assert mapped(harness) == [tier]


def test_five_slot_settings_migrate_unchanged(tmp_path: Any) -> None:
    db = Database(str(tmp_path / "old.db"))
    migrations.apply(db, stop_before="m090_field_targets")
    db.execute("INSERT INTO companies (id, name, created_at) VALUES (1, 'Old Co', 0)")
    keys = ["a" * 40, "b" * 40, "", "c" * 40, ""]
    db.execute(
        "INSERT INTO settings (company_id, custom_fields, updated_at) VALUES (1, ?, 0)",
        (json.dumps(keys),),
    )
    db.conn.commit()
    migrations.apply(db)
    row = db.execute("SELECT custom_fields, field_targets FROM settings").fetchone()
    assert tuple(row) == (json.dumps(keys), "[]")


def test_labels_owner_and_the_organization_address(harness: Harness) -> None:
    harness.setup_company(
        **slots(
            ("pd:labels", "custom", "Pipedrive labels"),
            ("pd:owner", "", ""),
            ("pd:org_address", "standard", "ADDRESS"),
            ("pd:org_country", "standard", "COUNTRY"),
        )
    )
    org = org_with_address(harness)
    customer = harness.pipedrive.option_id(COMPANY, "Labels", "Customer")
    supplier = harness.pipedrive.option_id(COMPANY, "Labels", "Supplier")
    harness.create_person(
        name="Ada Lovelace",
        email="ada@example.com",
        org_id=org["id"],
        owner_id=ADMIN,
        label_ids=[customer, supplier],
    )
    harness.settle()
    ada = harness.contacts()["ada@example.com"]
    # the webhook names only the first label: the person is read once for all of them
    assert ada["custom_fields"]["Pipedrive labels"] == "Customer, Supplier"
    assert ada["custom_fields"]["Owner"] == "Ada Admin"
    assert ada["standard_fields"]["ADDRESS"] == "Hauptstr. 5, 53111 Bonn, Germany"
    assert ada["standard_fields"]["COUNTRY"] == "Germany"


def test_while_pipedrive_fails_the_settings_show_the_fields_read_lately(harness: Harness) -> None:
    segment = add_field(harness, "Segment")
    client = harness.setup_company(**slots((segment, "", "")))
    harness.pd("POST", "/_sim/down", json={"down": True})
    page = html.unescape(client.get(f"{harness.app_url}/settings").text)
    harness.pd("POST", "/_sim/down", json={"down": False})
    assert f'<option value="{segment}" selected>Segment' in page
    assert "could not be loaded" not in page
