"""Consent settings that agree with each other (F4 revised, issue #26 item 2): a new company
starts with the DOI process on, the DOI mailing ID is optional (the account's default DOI
mailing), "Ask for tracking consent (DOI+)" is stored and sent, and Initial permission says it
applies only without DOI."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs

from sqlite_utils import Database

from store.migrations import migrations
from tests.harness import Harness
from tests.integration.test_contact_rules import option

EMAIL = "dora@example.com"


def _create_query(harness: Harness, email: str) -> dict[str, list[str]]:
    """The query of the app's contact create for this address, as Maileon received it."""
    for r in harness.ml("GET", "/_sim/state")["requests"]:
        if r["method"] == "POST" and email in r["path"].replace("%40", "@"):
            return parse_qs(r["query"])
    raise AssertionError(f"no contact create for {email}")


def _tag(page: str, control: str) -> str:
    """The opening tag of the form control with this id."""
    return page.split(f'id="{control}"', 1)[1].split(">", 1)[0]


def _contact(harness: Harness, email: str) -> dict[str, Any]:
    return harness.contacts()[email]


def test_a_new_company_starts_with_doi_on_and_the_form_says_initial_permission_steps_aside(
    harness: Harness,
) -> None:
    client = harness.install()
    page = html.unescape(client.get(f"{harness.app_url}/settings").text)
    assert "checked" in _tag(page, "doi_enabled")
    help_text = page.split('id="initial_permission_help"', 1)[1].split("</small>", 1)[0]
    assert help_text.rsplit(">", 1)[1].startswith("Applies only without the DOI process")
    assert '<label for="doi_plus">Ask for tracking consent (DOI+)</label>' in page
    assert "Optional" in page and "default DOI mailing" in page


def test_doi_without_a_mailing_id_uses_the_account_default_and_doi_plus_is_sent(
    harness: Harness,
) -> None:
    client = harness.setup_company(doi_enabled=True, doi_plus=True, initial_permission=2)
    page = client.get(f"{harness.app_url}/settings").text
    assert "checked" in _tag(page, "doi_plus")
    key, subscribed = option(harness, "Subscribed")
    person = harness.create_person(name="Dora DOI", email=EMAIL, custom_fields={key: subscribed})
    harness.settle()
    query = _create_query(harness, EMAIL)
    assert query["doi"] == ["true"] and query["doiplus"] == ["true"]
    assert "doimailing" not in query  # empty: Maileon takes the account's default DOI mailing
    assert _contact(harness, EMAIL)["doi_pending"]
    assert harness.newsletter_of(person["id"]) == "Pending confirmation"


def test_without_doi_plus_the_doi_process_asks_no_tracking_consent(harness: Harness) -> None:
    harness.setup_company(doi_enabled=True, doi_mailing_key="doi-key-1", initial_permission=4)
    key, subscribed = option(harness, "Subscribed")
    harness.create_person(name="Dora DOI", email=EMAIL, custom_fields={key: subscribed})
    harness.settle()
    query = _create_query(harness, EMAIL)
    assert query["doi"] == ["true"] and query["doiplus"] == ["false"]
    assert query["doimailing"] == ["doi-key-1"]


def test_the_migration_keeps_what_existing_companies_chose(tmp_path: Any) -> None:
    db = Database(str(tmp_path / "old.db"))
    migrations.apply(db, stop_before="m060_doi_plus")
    db.execute("INSERT INTO companies (id, name, created_at) VALUES (1, 'Old Co', 0)")
    db.execute(
        "INSERT INTO settings (company_id, doi_enabled, initial_permission, updated_at)"
        " VALUES (1, 0, 3, 0)"
    )
    db.conn.commit()
    migrations.apply(db)
    row = db.execute(
        "SELECT doi_enabled, initial_permission, doi_plus FROM settings WHERE company_id=1"
    ).fetchone()
    assert tuple(row) == (0, 3, 0)
