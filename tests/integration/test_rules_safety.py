"""Rules that cannot surprise (issue #26, item 5): removing contacts from Maileon needs a
confirmation that names how many, and switching back to All persons drops a removal chosen
for other rules."""

from __future__ import annotations

import re

from tests.harness import Harness
from tests.integration.test_sync_rules import apply, card, hx, label, preview, text


def test_removing_contacts_needs_a_confirmation_naming_how_many(harness: Harness) -> None:
    client = harness.setup_company()
    customer = label(harness, "Customer")
    harness.create_person(name="A One", email="a1@example.com", label_ids=[customer])
    harness.create_person(name="B Two", email="b2@example.com")
    harness.create_person(name="C Three", email="c3@example.com")
    harness.settle()
    preview(harness, client, mode="rules", labels=str(customer), on_stop="remove")
    page = card(harness, client)
    assert "Yes, remove 2 contacts from Maileon" in text(page)
    assert "Apply and remove 2 contacts" in text(page)
    run_id = re.search(r'name="run_id" value="(\d+)"', page)
    assert run_id
    for confirm in ({}, {"confirm_remove": "1"}):  # not ticked; a count that is not the one shown
        r = client.post(
            f"{harness.app_url}/settings/rules/apply",
            data={"run_id": run_id.group(1), **confirm},
            headers=hx(harness),
        )
        assert r.status_code == 422
        assert "Nothing was applied: confirm that 2 contacts are removed from Maileon" in text(
            r.text
        )
    harness.settle()
    assert {"b2@example.com", "c3@example.com"} <= set(harness.contacts())  # nothing removed
    done = apply(harness, client)  # ticked: the count shown goes along
    assert "2 removed" in done
    assert set(harness.contacts()) == {"a1@example.com"}


def test_back_to_all_persons_drops_a_removal_chosen_for_other_rules(harness: Harness) -> None:
    client = harness.setup_company()
    customer = label(harness, "Customer")
    harness.create_person(name="A One", email="a1@example.com", label_ids=[customer])
    harness.settle()
    # the form still carries "Remove its contact" from the rules chosen before
    preview(harness, client, mode="all", labels=str(customer), on_stop="remove")
    page = card(harness, client)
    assert 'id="on_stop_field" hidden' in page
    assert re.search(r'id="on_stop_keep"[^>]*checked', page)
    assert "confirm_remove" not in page
    apply(harness, client)
    page = text(card(harness, client))
    assert "Now: All persons with an email address ." in page
    assert "removed from Maileon" not in page
