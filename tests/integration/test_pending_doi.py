"""A DOI that is never confirmed (e.g. a wrong DOI mailing ID) shows on the health card once
the contact has been "Pending confirmation" for more than 48 hours."""

from __future__ import annotations

import sqlite3
import time

from tests.harness import Harness
from tests.integration.test_contact_rules import option


def test_contacts_pending_for_more_than_48_hours_are_named(harness: Harness) -> None:
    client = harness.setup_company(doi_enabled=True, doi_mailing_key="no-such-doi-key",
                                   initial_permission=4)
    key, subscribed = option(harness, "Subscribed")
    old = harness.create_person(name="Olga Old", email="olga@example.com",
                                custom_fields={key: subscribed})
    harness.create_person(name="Fay Fresh", email="fay@example.com",
                          custom_fields={key: subscribed})
    harness.settle()
    assert harness.newsletter_of(old["id"]) == "Pending confirmation"
    assert "Pending confirmation over 48 h" not in client.get(
        f"{harness.app_url}/settings/health").text
    conn = sqlite3.connect(harness.config.database_path)  # 49 hours pass for Olga
    with conn:
        conn.execute("UPDATE persons SET written_at=? WHERE person_id=?",
                     (time.time() - 49 * 3600, old["id"]))
    conn.close()
    card = client.get(f"{harness.app_url}/settings/health").text
    assert "Pending confirmation over 48 h" in card
    assert "1 contact (olga@example.com)" in card and "fay@example.com" not in card
    assert "check the DOI mailing ID" in card
