"""A company's API domain can change (issue #22, item 3): Pipedrive's token refresh answer names
the current api_domain. The app stores an allowed one and uses it from then on, with the company
domain of deal links read again; a domain PIPEDRIVE_API_DOMAINS does not allow is never sent a
token and the settings page says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.server import ServerThread, free_port
from tests.harness import COMPANY, Harness, make_config, start_simulators
from web.app import create_app


def moved_url(harness: Harness) -> str:
    """The same simulated Pipedrive under another host name."""
    return harness.pd_url.replace("127.0.0.1", "localhost")


@pytest.fixture
def two_domain_harness(tmp_path: Path) -> Iterator[Harness]:
    """The app allows the simulated Pipedrive under both of its host names."""
    pipedrive, pd_server, maileon, ml_server, secret = start_simulators()
    port = free_port()
    allowed = (pd_server.url, pd_server.url.replace("127.0.0.1", "localhost"))
    cfg = make_config(
        tmp_path, pd_server.url, ml_server.url, port, client_secret=secret, api_domains=allowed
    )
    app_server = ServerThread(create_app(cfg), port=port).start()
    try:
        yield Harness(
            pipedrive, maileon, pd_server.url, ml_server.url, app_server.url, cfg, app_server
        )
    finally:
        app_server.stop()
        pd_server.stop()
        ml_server.stop()


def stored_domains(harness: Harness) -> tuple[str, str]:
    rows = harness.rows("SELECT api_domain, domain FROM companies WHERE id=?", (COMPANY,))
    return rows[0][0], rows[0][1]


def test_a_changed_api_domain_is_taken_from_the_token_refresh(
    two_domain_harness: Harness,
) -> None:
    harness = two_domain_harness
    client = harness.setup_company()
    assert stored_domains(harness) == (harness.pd_url, "acme")
    new = moved_url(harness)
    harness.pd("PATCH", f"/_sim/companies/{COMPANY}", json={"api_domain": new, "domain": "acme2"})

    # the next change asks Pipedrive (admin rights): the old host refuses, the refresh names
    # the new one, and the change goes through
    r = harness.save_settings(client, contacts_sync=True, deals_sync=True)
    assert r.status_code == 200 and "Settings saved" in r.text, r.text
    assert stored_domains(harness) == (new, "acme2")  # deal links use the new domain too
    harness.create_person(name="Ada Moved", email="ada@example.com")
    harness.settle()
    assert "ada@example.com" in harness.contacts()
    assert not harness.rows("SELECT 1 FROM jobs WHERE state='failed'")


def test_an_api_domain_the_configuration_does_not_allow_gets_no_token(harness: Harness) -> None:
    client = harness.setup_company()
    evil = "https://pipedrive.example.org"
    harness.pd("PATCH", f"/_sim/companies/{COMPANY}", json={"api_domain": evil})
    harness.save_settings(client, contacts_sync=True, deals_sync=True)  # refused by the old host
    assert stored_domains(harness)[0] == harness.pd_url
    page = client.get(f"{harness.app_url}/settings").text
    assert "PIPEDRIVE_API_DOMAINS does not allow" in page and "pipedrive.example.org" in page
