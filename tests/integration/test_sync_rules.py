"""Sync rules (F14): which persons go to Maileon, through the settings card, the real webhook
endpoint (the simulator delivers its webhooks), the worker and both simulators."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from tests.harness import ADMIN, COMPANY, SALES, Harness
from tests.waiting import wait_until
from tests.webhooks import deliver, person_v2


def hx(harness: Harness) -> dict[str, str]:
    return {"HX-Request": "true", "Origin": harness.app_url}


def text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()


def card(harness: Harness, client: httpx.Client) -> str:
    r = client.get(f"{harness.app_url}/settings/rules", headers=hx(harness))
    assert r.status_code == 200, r.text
    return r.text


def wait_card(harness: Harness, client: httpx.Client, state: str, timeout: float = 25.0) -> str:
    page = ""

    def reached() -> str:
        nonlocal page
        page = card(harness, client)
        return page if f'data-state="{state}"' in page else ""

    try:
        return wait_until(reached, timeout, interval=0.05)
    except AssertionError:
        raise AssertionError(f"sync rules run not {state} after {timeout}s: {text(page)}") from None


def preview(harness: Harness, client: httpx.Client, **form: Any) -> str:
    """Post the rules form and wait for the preview; the preview's sentence comes back."""
    r = client.post(f"{harness.app_url}/settings/rules/preview", data=form, headers=hx(harness))
    assert r.status_code == 200, r.text
    page = wait_card(harness, client, "previewed")
    found = re.search(r'id="rules-preview"><strong>([^<]+)</strong>', page)
    assert found, text(page)
    return html.unescape(found.group(1)).rstrip(".")


def apply(harness: Harness, client: httpx.Client) -> str:
    page = card(harness, client)
    run_id = re.search(r'name="run_id" value="(\d+)"', page)
    assert run_id, text(page)
    data = {"run_id": run_id.group(1)}
    confirm = re.search(r'name="confirm_remove" value="(\d+)"', page)
    if confirm:  # the admin ticks "Yes, remove N contacts from Maileon"
        data["confirm_remove"] = confirm.group(1)
    r = client.post(f"{harness.app_url}/settings/rules/apply", data=data, headers=hx(harness))
    assert r.status_code == 200, r.text
    done = text(wait_card(harness, client, "done"))
    harness.settle()
    return done


def set_rules(harness: Harness, client: httpx.Client, **form: Any) -> str:
    preview(harness, client, **form)
    return apply(harness, client)


def label(harness: Harness, name: str) -> int:
    found = harness.pipedrive.option_id(COMPANY, "Labels", name)
    assert found is not None
    return found


def sync_log(harness: Harness) -> list[tuple[str, str, str]]:
    return [
        (str(r[0]), str(r[1]), str(r[2]))
        for r in harness.rows(
            "SELECT entity_id, result, message FROM sync_log WHERE kind='person' ORDER BY id"
        )
    ]


def log_of(harness: Harness, person_id: int) -> list[str]:
    return [m for e, _, m in sync_log(harness) if e == str(person_id)]


def patch_person(harness: Harness, person_id: int, **fields: Any) -> None:
    harness.pd("PATCH", f"/_sim/persons/{person_id}", json=fields)


def test_label_rule_sends_only_persons_with_a_chosen_label(harness: Harness) -> None:
    client = harness.setup_company()
    set_rules(
        harness,
        client,
        mode="rules",
        labels=[str(label(harness, "Customer")), str(label(harness, "Hot lead"))],
    )
    customer = harness.create_person(
        name="Cora Customer", email="cora@example.com", label_ids=[label(harness, "Customer")]
    )
    supplier = harness.create_person(
        name="Sid Supplier", email="sid@example.com", label_ids=[label(harness, "Supplier")]
    )
    harness.settle()
    contacts = harness.contacts()
    assert "cora@example.com" in contacts and "sid@example.com" not in contacts
    assert any(
        "left out by the sync rules: none of the labels Customer, Hot lead" in m
        for m in log_of(harness, supplier["id"])
    ), sync_log(harness)
    health = html.unescape(
        re.sub(r"<[^>]+>", "", client.get(f"{harness.app_url}/settings/health").text)
    )
    assert "Sid Supplier → Maileon" in health and "left out by the sync rules" in health
    assert not any("left out" in m for m in log_of(harness, customer["id"]))


def test_owner_rule_sends_only_persons_owned_by_chosen_users(harness: Harness) -> None:
    client = harness.setup_company()
    set_rules(harness, client, mode="rules", other_owners=str(SALES))
    sams = harness.create_person(name="Sam's Lead", email="samlead@example.com", owner_id=SALES)
    adas = harness.create_person(name="Ada's Lead", email="adalead@example.com", owner_id=ADMIN)
    harness.settle()
    contacts = harness.contacts()
    assert "samlead@example.com" in contacts and "adalead@example.com" not in contacts
    reason = " ".join(log_of(harness, adas["id"]))
    assert (
        "left out by the sync rules" in reason and "its owner is Ada Admin, not user #502" in reason
    ), reason
    assert log_of(harness, sams["id"])


def test_field_rule_matches_an_option_by_its_name(harness: Harness) -> None:
    client = harness.setup_company()
    tier = harness.pipedrive.field_key(COMPANY, "Tier")
    assert tier
    set_rules(harness, client, mode="rules", field_key=tier, field_value="gold")
    gold = harness.pipedrive.option_id(COMPANY, "Tier", "Gold")
    silver = harness.pipedrive.option_id(COMPANY, "Tier", "Silver")
    harness.create_person(name="Goldie", email="goldie@example.com", custom_fields={tier: gold})
    silvie = harness.create_person(
        name="Silvie", email="silvie@example.com", custom_fields={tier: silver}
    )
    harness.settle()
    contacts = harness.contacts()
    assert "goldie@example.com" in contacts and "silvie@example.com" not in contacts
    assert any("its Tier is not gold" in m for m in log_of(harness, silvie["id"]))


def test_newsletter_mode_and_setting_the_field_subscribes_explicitly(harness: Harness) -> None:
    client = harness.setup_company(initial_permission=3)
    set_rules(harness, client, mode="newsletter")
    key, options = harness.newsletter_field()
    person = harness.create_person(name="Nelly News", email="nelly@example.com")
    harness.settle()
    assert "nelly@example.com" not in harness.contacts()
    assert any("its Newsletter field is empty" in m for m in log_of(harness, person["id"]))
    # the user sets the field: it matches now, and the change itself is the consent
    patch_person(harness, person["id"], custom_fields={key: options["Subscribed"]})
    harness.settle()
    assert harness.contacts()["nelly@example.com"]["permission"] == 3


def test_start_matching_syncs_data_only_and_subscribes_nobody(harness: Harness) -> None:
    client = harness.setup_company(initial_permission=3)
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    key, options = harness.newsletter_field()
    person = harness.create_person(
        name="Stella Start",
        email="stella@example.com",
        label_ids=[label(harness, "Supplier")],
        custom_fields={key: options["Subscribed"]},
    )
    harness.settle()
    assert "stella@example.com" not in harness.contacts()
    assert any(
        "its Newsletter change to Subscribed was not sent" in m
        for m in log_of(harness, person["id"])
    ), sync_log(harness)
    patch_person(harness, person["id"], label_ids=[label(harness, "Customer")])
    harness.settle()
    contact = harness.contacts()["stella@example.com"]
    assert contact["permission"] == 1  # matching is no consent
    assert contact["external_id"] == str(person["id"])


def test_stop_matching_keeps_the_contact_by_default(harness: Harness) -> None:
    client = harness.setup_company()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    person = harness.create_person(
        name="Kim Keep", email="kim@example.com", label_ids=[label(harness, "Customer")]
    )
    harness.settle()
    assert "kim@example.com" in harness.contacts()
    patch_person(harness, person["id"], label_ids=[label(harness, "Supplier")])
    harness.settle()
    patch_person(harness, person["id"], name="Kim Renamed")
    harness.settle()
    contact = harness.contacts()["kim@example.com"]
    assert contact["standard_fields"]["FULLNAME"] == "Kim Keep"  # kept, no longer updated
    messages = " ".join(log_of(harness, person["id"]))
    assert (
        "stopped matching the sync rules (none of the labels Customer); its Maileon "
        "contact is kept" in messages
    ), messages


def test_stop_matching_removes_the_contact_when_chosen(harness: Harness) -> None:
    client = harness.setup_company()
    set_rules(
        harness, client, mode="rules", labels=[str(label(harness, "Customer"))], on_stop="remove"
    )
    person = harness.create_person(
        name="Rita Remove", email="rita@example.com", label_ids=[label(harness, "Customer")]
    )
    harness.settle()
    assert "rita@example.com" in harness.contacts()
    patch_person(harness, person["id"], label_ids=[])
    harness.settle()
    assert "rita@example.com" not in harness.contacts()
    assert any("contact removed from Maileon" in m for m in log_of(harness, person["id"]))
    # it starts matching again: a new contact without permission
    patch_person(harness, person["id"], label_ids=[label(harness, "Customer")])
    harness.settle()
    assert harness.contacts()["rita@example.com"]["permission"] == 1


def test_an_explicit_unsubscribe_reaches_a_kept_contact(harness: Harness) -> None:
    client = harness.setup_company(initial_permission=3)
    key, options = harness.newsletter_field()
    person = harness.create_person(
        name="Una Out", email="una@example.com", custom_fields={key: options["Subscribed"]}
    )
    harness.settle()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    patch_person(harness, person["id"], custom_fields={key: options["Unsubscribed"]})
    harness.settle()
    contact = harness.ml("GET", "/_sim/state")["contacts"]
    mine = [
        c
        for c in contact
        if c.get("external_id") == str(person["id"]) or c.get("email") == "una@example.com"
    ]
    assert mine and all(c["unsubscribed"] for c in mine), mine


def test_rule_change_previews_then_applies_with_removal_and_addition(harness: Harness) -> None:
    client = harness.setup_company()
    customer = label(harness, "Customer")
    harness.create_person(name="A One", email="a1@example.com", label_ids=[customer])
    harness.create_person(name="B Two", email="b2@example.com")
    harness.create_person(name="C Three", email="c3@example.com")
    harness.create_person(name="No Mail")
    harness.settle()
    assert {"a1@example.com", "b2@example.com", "c3@example.com"} <= set(harness.contacts())

    sentence = preview(harness, client, mode="rules", labels=str(customer), on_stop="remove")
    assert sentence == "1 person matches; 0 will be added, 2 removed"
    assert {"b2@example.com", "c3@example.com"} <= set(harness.contacts())  # only a preview
    done = apply(harness, client)
    assert "Sync rules applied to 4 persons: 0 added to Maileon, 2 removed" in done, done
    assert set(harness.contacts()) == {"a1@example.com"}

    # back to everyone: the two come back without permission
    sentence = preview(harness, client, mode="all")
    assert sentence == "3 persons match; 2 will be added, 0 removed"
    done = apply(harness, client)
    assert "2 added to Maileon" in done, done
    contacts = harness.contacts()
    assert contacts["b2@example.com"]["permission"] == 1
    assert "Now: All persons with an email address" in text(card(harness, client))


def test_remove_keeps_contacts_the_app_did_not_create(harness: Harness) -> None:
    """F14: leaving the rules with 'remove' deletes only contacts the app created; the preview
    counts the others apart and they keep their data and permission."""
    client = harness.setup_company()
    harness.ml("POST", "/_sim/contacts", json={"email": "doi@example.com", "permission": 4})
    found = harness.create_person(name="Doi Web", email="doi@example.com")
    harness.create_person(name="App Made", email="made@example.com")
    harness.settle()

    sentence = preview(harness, client, mode="newsletter", on_stop="remove")
    assert sentence == "0 persons match; 0 will be added, 1 removed, 1 kept: not created by the app"
    done = apply(harness, client)
    assert "0 added to Maileon, 1 removed, 1 kept: not created by the app" in done, done
    contacts = harness.contacts()
    assert "made@example.com" not in contacts
    assert contacts["doi@example.com"]["permission"] == 4
    # the sync log says why a contact was kept (web/ words it from the run's counts)
    logged = text(client.get(f"{harness.app_url}/settings/health").text)
    assert "0 added to Maileon, 1 removed, 1 kept: not created by the app" in logged, logged

    # later edits of the person kept outside the rules delete nothing either
    patch_person(harness, found["id"], name="Doi Web Renamed")
    harness.settle()
    assert harness.contacts()["doi@example.com"]["permission"] == 4


def test_preview_with_keep_counts_kept_contacts_and_discard_changes_nothing(
    harness: Harness,
) -> None:
    client = harness.setup_company()
    harness.create_person(name="Kept One", email="k1@example.com")
    harness.settle()
    sentence = preview(harness, client, mode="newsletter")
    assert sentence == (
        "0 persons match; 0 will be added, 0 removed; 1 stop matching and keep "
        "their Maileon contact"
    )
    r = client.post(f"{harness.app_url}/settings/rules/cancel", headers=hx(harness))
    assert r.status_code == 200
    assert "Now: All persons with an email address" in text(r.text)
    harness.create_person(name="Still Synced", email="still@example.com")
    harness.settle()
    assert "still@example.com" in harness.contacts()


def test_deal_transactions_follow_the_rules(harness: Harness) -> None:
    client = harness.setup_company(deals_sync=True)
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    inside = harness.create_person(
        name="In Side", email="in@example.com", label_ids=[label(harness, "Customer")]
    )
    outside = harness.create_person(name="Out Side", email="out@example.com")
    harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": "Inner deal", "person_id": inside["id"]},
    )
    harness.pd(
        "POST",
        "/_sim/deals",
        json={"company_id": COMPANY, "title": "Outer deal", "person_id": outside["id"]},
    )
    harness.settle()
    sent = harness.ml("GET", "/_sim/state")["transactions"]
    assert [t["email"] for t in sent] == ["in@example.com"]
    deal_log = " ".join(
        r[0] for r in harness.rows("SELECT message FROM sync_log WHERE kind='deal'")
    )
    assert (
        'deal "Outer deal"' in deal_log
        and "Out Side" in deal_log
        and "outside the sync rules (none of the labels Customer)" in deal_log
    ), deal_log


def test_import_follows_the_rules(harness: Harness) -> None:
    client = harness.setup_company(contacts_sync=False)
    harness.create_person(
        name="Imp In", email="impin@example.com", label_ids=[label(harness, "Customer")]
    )
    harness.create_person(name="Imp Out", email="impout@example.com")
    harness.settle()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    r = client.post(f"{harness.app_url}/settings/import/start", headers=hx(harness))
    assert r.status_code == 200
    wait_until(
        lambda: (
            'data-state="done"'
            in client.get(f"{harness.app_url}/settings/import", headers=hx(harness)).text
        ),
        25,
    )
    page = text(client.get(f"{harness.app_url}/settings/import", headers=hx(harness)).text)
    assert "1 skipped: outside the sync rules" in page, page
    contacts = harness.contacts()
    assert "impin@example.com" in contacts and "impout@example.com" not in contacts


def test_panel_says_why_a_person_is_outside_the_rules(harness: Harness) -> None:
    client = harness.setup_company()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    person = harness.create_person(name="Pan Out", email="panout@example.com")
    harness.settle()
    r = httpx.get(
        f"{harness.app_url}/panel/status",
        params={"selectedIds": str(person["id"])},
        headers={"X-Pipedrive-Token": harness.sign_token(), "HX-Request": "true"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    page = text(r.text)
    assert "Outside the sync rules: none of the labels Customer" in page, page
    assert 'id="pm-subscribe"' not in r.text


def test_a_v2_webhook_without_labels_reads_the_person_once(harness: Harness) -> None:
    client = harness.setup_company()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    person = harness.create_person(
        name="Hook Lab", email="hook@example.com", label_ids=[label(harness, "Customer")]
    )
    harness.settle()

    def reads() -> int:
        return len(
            [
                q
                for q in harness.pd("GET", "/_sim/state")["requests"]
                if q["method"] == "GET" and q["path"] == f"/api/v2/persons/{person['id']}"
            ]
        )

    before = reads()
    # a documented-shape v2 webhook (only `label: null`) must not make the person stop matching
    r = deliver(
        harness,
        person_v2(
            person["id"], "change", name="Hook Lab", email="hook@example.com", seconds=10_000_000
        ),
    )
    assert r.status_code == 200
    harness.settle()
    assert "hook@example.com" in harness.contacts()
    assert reads() == before + 1  # one read of the person, not one per rule
    assert not any("left out" in m or "stopped" in m for m in log_of(harness, person["id"]))


@pytest.mark.parametrize(
    "form, message",
    [
        ({"mode": "bogus"}, "Choose which persons go to Maileon."),
        ({"mode": "rules"}, "Choose at least one rule"),
        ({"mode": "rules", "other_owners": "12; drop table"}, "type Pipedrive user ids"),
        ({"mode": "rules", "labels": "999999"}, "A chosen label no longer exists"),
        ({"mode": "rules", "field_key": "nope", "field_value": "x"}, "no longer exists"),
        ({"mode": "rules", "other_owners": "1", "on_stop": "explode"}, "stop matching"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(
    harness: Harness, form: dict[str, str], message: str
) -> None:
    client = harness.setup_company()
    r = client.post(f"{harness.app_url}/settings/rules/preview", data=form, headers=hx(harness))
    assert r.status_code == 422
    assert message in text(r.text)
    assert harness.rows("SELECT count(*) FROM rule_runs")[0][0] == 0


def test_only_admins_change_the_rules(harness: Harness) -> None:
    harness.setup_company()
    sales = harness.install(SALES)
    r = sales.post(
        f"{harness.app_url}/settings/rules/preview",
        data={"mode": "newsletter"},
        headers=hx(harness),
    )
    assert r.status_code == 403
    page = card(harness, sales)
    assert "Now: All persons with an email address" in text(page)
    assert 'id="rules-form"' not in page


def test_a_kept_contact_is_brought_up_to_date_when_its_person_matches_again(
    harness: Harness,
) -> None:
    client = harness.setup_company()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    person = harness.create_person(
        name="Back Again", email="back@example.com", label_ids=[label(harness, "Customer")]
    )
    harness.settle()
    patch_person(harness, person["id"], label_ids=[])
    harness.settle()
    patch_person(harness, person["id"], name="Back Renamed")
    harness.settle()
    assert harness.contacts()["back@example.com"]["standard_fields"]["FULLNAME"] == "Back Again"
    assert preview(harness, client, mode="all") == "1 person matches; 0 will be added, 0 removed"
    assert "Sync rules applied to 1 person: 0 added to Maileon, 0 removed" in apply(harness, client)
    contact = harness.contacts()["back@example.com"]
    assert contact["standard_fields"]["FULLNAME"] == "Back Renamed"
    assert contact["permission"] == 1


def test_a_stopped_preview_and_apply_resume_and_finish(harness: Harness) -> None:
    client = harness.setup_company()
    harness.pd(
        "POST",
        "/_sim/bulk_persons",
        json={"company_id": COMPANY, "count": 700, "fire_webhooks": False},
    )
    fault = {"path_prefix": "/api/v2/persons", "method": "GET", "status": 400, "count": 1}
    harness.pd("POST", "/_sim/faults", json=fault)
    r = client.post(
        f"{harness.app_url}/settings/rules/preview", data={"mode": "all"}, headers=hx(harness)
    )
    assert r.status_code == 200
    wait_until(lambda: "Preview stopped:" in text(card(harness, client)), 20)
    r = client.post(f"{harness.app_url}/settings/rules/resume", headers=hx(harness))
    assert r.status_code == 200
    assert (
        preview_sentence(wait_card(harness, client, "previewed"))
        == "700 persons match; 700 will be added, 0 removed"
    )

    harness.pd("POST", "/_sim/faults", json=fault)
    page = card(harness, client)
    run_id = re.search(r'name="run_id" value="(\d+)"', page)
    assert run_id
    client.post(
        f"{harness.app_url}/settings/rules/apply",
        data={"run_id": run_id.group(1)},
        headers=hx(harness),
    )
    wait_until(lambda: "Applying stopped:" in text(card(harness, client)), 20)
    client.post(f"{harness.app_url}/settings/rules/resume", headers=hx(harness))
    done = text(wait_card(harness, client, "done"))
    assert "Sync rules applied to 700 persons: 700 added to Maileon, 0 removed" in done, done
    assert len(harness.contacts()) == 700
    health = client.get(f"{harness.app_url}/settings/health").text
    assert "Sync rules applied to 700 persons" in html.unescape(health)


def preview_sentence(page: str) -> str:
    found = re.search(r'id="rules-preview"><strong>([^<]+)</strong>', page)
    assert found, text(page)
    return html.unescape(found.group(1)).rstrip(".")


def test_a_chosen_label_that_is_not_the_first_still_matches(harness: Harness) -> None:
    """Issue #22, item 7: a webhook's `label` is only the first of the person's labels; without
    `label_ids` the app reads the person instead of taking that one label for all of them."""
    client = harness.setup_company()
    first, second = sorted([label(harness, "Supplier"), label(harness, "Customer")])
    set_rules(harness, client, mode="rules", labels=[str(second)])
    person = harness.create_person(
        name="Two Labels", email="two@example.com", label_ids=[first, second]
    )
    harness.settle()
    assert "two@example.com" in harness.contacts()
    assert not any("left out" in m for m in log_of(harness, person["id"]))


def test_an_unsubscribe_applied_while_a_rule_run_waits_for_maileon_is_kept(
    harness: Harness,
) -> None:
    """Item 8 for rule runs: a page sends persons that start matching again, waiting for
    Maileon without their locks; a Maileon unsubscribe applied meanwhile survives the save."""
    client = harness.setup_company(initial_permission=2)
    key, options = harness.newsletter_field()
    person = harness.create_person(
        name="Ria Race", email="ria@example.com", custom_fields={key: options["Subscribed"]}
    )
    harness.settle()
    set_rules(harness, client, mode="rules", labels=[str(label(harness, "Customer"))])
    assert "ria@example.com" in harness.contacts()  # kept while outside

    harness.ml("POST", "/_sim/hold", json={"path": "/1.0/contacts", "method": "POST"})
    preview(harness, client, mode="all")
    run_id = re.search(r'name="run_id" value="(\d+)"', card(harness, client))
    assert run_id
    r = client.post(
        f"{harness.app_url}/settings/rules/apply",
        data={"run_id": run_id.group(1)},
        headers=hx(harness),
    )
    assert r.status_code == 200, r.text
    wait_until(lambda: harness.ml("GET", "/_sim/hold")["held"] == 1)  # the page is in flight
    harness.ml("POST", "/_sim/contacts/unsubscribe", json={"email": "ria@example.com"})
    query = "SELECT maileon_state, newsletter FROM persons WHERE person_id=?"
    wait_until(lambda: harness.rows(query, (person["id"],)) == [("unsubscribed", "Unsubscribed")])
    harness.ml("POST", "/_sim/release")
    wait_card(harness, client, "done")
    harness.settle()

    assert harness.rows(query, (person["id"],)) == [("unsubscribed", "Unsubscribed")]


def test_remove_asks_maileon_when_the_app_does_not_know_who_created_the_contact(
    harness: Harness,
) -> None:
    """An import batch that mixes new and existing contacts does not say which were new: the
    preview counts those removals as to be checked, and applying them removes only the contact
    whose createdByPipedrive is true."""
    from tests.integration.test_import import start, wait_for

    client = harness.setup_company()
    ids = harness.pd(
        "POST",
        "/_sim/bulk_persons",
        json={
            "company_id": COMPANY,
            "count": 2,
            "email_domain": "mixed.test",
            "fire_webhooks": False,
        },
    )["ids"]
    persons = {p["id"]: p for p in harness.pd("GET", "/_sim/state")["persons"]}
    emails = [str(persons[i]["emails"][0]["value"]) for i in ids]
    harness.ml("POST", "/_sim/contacts", json={"email": emails[0], "permission": 4})
    start(harness, client)
    wait_for(harness, client, "done")
    harness.settle()
    assert set(emails) <= set(harness.contacts())

    sentence = preview(harness, client, mode="newsletter", on_stop="remove")
    assert sentence == (
        "0 persons match; 0 will be added, 2 removed (2 of the removals only if Maileon shows "
        "the app created them; the others are kept)"
    )
    done = apply(harness, client)
    assert "1 removed, 1 kept: not created by the app" in done, done
    contacts = harness.contacts()
    assert emails[1] not in contacts
    assert contacts[emails[0]]["permission"] == 4


def test_a_rule_run_removes_contacts_with_the_workers_concurrency(harness: Harness) -> None:
    """Removing 24 contacts at 200 ms per Maileon call: one after the other that is 4.8 s; the
    worker's concurrency sends them several at once (Maileon sees them in flight together), so
    the admin's apply ends in a fraction of that."""
    client = harness.setup_company()
    harness.pd(
        "POST",
        "/_sim/bulk_persons",
        json={
            "company_id": COMPANY,
            "count": 24,
            "email_domain": "leave.test",
            "fire_webhooks": True,
        },
    )
    harness.settle()
    assert sum(e.endswith("@leave.test") for e in harness.contacts()) == 24
    preview(harness, client, mode="rules", labels=str(label(harness, "Customer")), on_stop="remove")
    harness.ml("POST", "/_sim/reset_faults")  # counts requests in flight from here
    harness.ml("POST", "/_sim/latency", json={"ms": 200})
    try:
        done = apply(harness, client)
        in_flight = harness.ml("GET", "/_sim/state")["most_requests_in_flight"]
    finally:
        harness.ml("POST", "/_sim/latency", json={"ms": 0})
    assert "24 removed" in done, done
    assert not any(e.endswith("@leave.test") for e in harness.contacts())
    assert in_flight >= 4, f"at most {in_flight} removal(s) in flight at once"
