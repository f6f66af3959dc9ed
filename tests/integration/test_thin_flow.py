"""The walking skeleton end to end: install → settings → webhooks → person → Maileon contact."""

from __future__ import annotations

from tests.harness import COMPANY, Harness


def test_install_settings_person_becomes_contact(harness: Harness) -> None:
    client = harness.install()
    page = client.get(f"{harness.app_url}/settings")
    assert page.status_code == 200
    assert "Maileon API key" in page.text and "Acme Sales" in page.text

    r = harness.save_settings(client, maileon_api_key="demo-maileon-key-0001", contacts_sync=True)
    assert r.status_code == 200, r.text
    assert "Settings saved" in r.text

    state = harness.pd("GET", "/_sim/state")
    hooks = [w for w in state["webhooks"] if w["company_id"] == COMPANY]
    assert sorted((w["event_object"], w["event_action"]) for w in hooks) == [
        ("person", "change"),
        ("person", "create"),
        ("person", "delete"),
    ]
    assert all(w["version"] == "2.0" and w["http_auth_user"] for w in hooks)
    assert any(
        f["name"] == "Newsletter"
        for f in state["person_fields"]
        if f.get("company_id", COMPANY) == COMPANY
    )

    person = harness.create_person(
        first_name="Grace", last_name="Hopper", email="grace@example.com"
    )
    harness.settle()
    contact = harness.contacts()["grace@example.com"]
    assert contact["external_id"] == str(person["id"])
    assert contact["standard_fields"]["FIRSTNAME"] == "Grace"
    assert contact["standard_fields"]["LASTNAME"] == "Hopper"
    assert contact["standard_fields"]["FULLNAME"] == "Grace Hopper"
    assert contact["permission"] == 1
    assert contact["custom_fields"]["createdByPipedrive"] in (True, "true")
