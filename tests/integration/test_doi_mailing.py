"""The DOI mailing ID: checked against the account's DOI mailings when the settings are saved,
and a DOI that is never confirmed shows on the health card once the contact has been "Pending
confirmation" for more than 48 hours."""

from __future__ import annotations

import html
import sqlite3
import time

from tests.harness import Harness
from tests.integration.test_contact_rules import option


def test_contacts_pending_for_more_than_48_hours_are_named(harness: Harness) -> None:
    client = harness.setup_company(
        doi_enabled=True, doi_mailing_key="doi-key-1", initial_permission=4
    )
    key, subscribed = option(harness, "Subscribed")
    old = harness.create_person(
        name="Olga Old", email="olga@example.com", custom_fields={key: subscribed}
    )
    harness.create_person(
        name="Fay Fresh", email="fay@example.com", custom_fields={key: subscribed}
    )
    harness.settle()
    assert harness.newsletter_of(old["id"]) == "Pending confirmation"
    assert (
        "Pending confirmation over 48 h"
        not in client.get(f"{harness.app_url}/settings/health").text
    )
    conn = sqlite3.connect(harness.config.database_path)  # 49 hours pass for Olga
    with conn:
        conn.execute(
            "UPDATE persons SET written_at=? WHERE person_id=?",
            (time.time() - 49 * 3600, old["id"]),
        )
    conn.close()
    card = client.get(f"{harness.app_url}/settings/health").text
    assert "Pending confirmation over 48 h" in card
    assert "1 contact (olga@example.com)" in card and "fay@example.com" not in card
    assert "check the DOI mailing ID" in card


def test_a_doi_key_no_doi_mailing_has_is_refused_at_save(harness: Harness) -> None:
    client = harness.setup_company()
    r = harness.save_settings(
        client, contacts_sync=True, doi_enabled=True, doi_mailing_key="kh68gb7"
    )
    assert r.status_code == 422
    assert "No DOI mailing of this Maileon account has the DOI key" in html.unescape(r.text)
    harness.ml("POST", "/_sim/doi_keys", json={"key": "kh68gb7"})
    r = harness.save_settings(
        client, contacts_sync=True, doi_enabled=True, doi_mailing_key="kh68gb7"
    )
    assert r.status_code == 200 and "Settings saved" in r.text


def test_a_doi_key_maileon_cannot_check_is_accepted(harness: Harness) -> None:
    client = harness.setup_company()
    harness.ml(
        "POST",
        "/_sim/faults",
        json={
            "path_prefix": "/1.0/mailings",
            "status": 200,
            "count": 3,
            "content_type": "application/vnd.maileon.api+xml",
            "body": "<list/>",
        },
    )
    r = harness.save_settings(
        client, contacts_sync=True, doi_enabled=True, doi_mailing_key="unverifiable"
    )
    assert r.status_code == 200 and "Settings saved" in r.text
