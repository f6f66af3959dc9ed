"""Issue 29: a company's Maileon custom fields, checked lately, and its Pipedrive person
fields, read lately, are not checked or read again by the next start of the app (a deploy
restarts every company at once); a settings save, which may change the key or the mapping,
makes the next write check them again."""

from __future__ import annotations

from sandbox.server import ServerThread
from tests.harness import MAILEON_KEY, Harness
from tests.waiting import wait_until
from web.app import create_app

FIELDS = "/1.0/contacts/fields/custom"
PERSON_FIELDS = "/api/v1/personFields"


def field_checks(harness: Harness) -> int:
    requests = harness.ml("GET", "/_sim/state")["requests"]
    return sum(1 for r in requests if r["method"] == "GET" and r["path"] == FIELDS)


def person_field_reads(harness: Harness) -> int:
    requests = harness.pd("GET", "/_sim/state")["requests"]
    return sum(1 for r in requests if r["method"] == "GET" and r["path"] == PERSON_FIELDS)


def test_a_restart_does_not_check_the_fields_again_a_settings_save_does(
    harness: Harness,
) -> None:
    client = harness.setup_company()
    harness.create_person(name="Before Restart", email="before@example.com")
    harness.settle()
    assert "before@example.com" in harness.contacts()
    checks, reads = field_checks(harness), person_field_reads(harness)
    assert checks >= 1 and reads >= 1

    port = int(harness.app_url.rsplit(":", 1)[1])
    harness.app_server.stop()
    harness.app_server = ServerThread(create_app(harness.config), port=port).start()
    harness.create_person(name="After Restart", email="after@example.com")
    wait_until(lambda: "after@example.com" in harness.contacts(), timeout=20)
    assert field_checks(harness) == checks  # checked minutes ago: still holds
    assert person_field_reads(harness) == reads  # read minutes ago: still holds

    saved = harness.save_settings(client, maileon_api_key=MAILEON_KEY, contacts_sync=True)
    assert saved.status_code == 200
    harness.create_person(name="After Save", email="after.save@example.com")
    wait_until(lambda: "after.save@example.com" in harness.contacts(), timeout=20)
    assert field_checks(harness) > checks
