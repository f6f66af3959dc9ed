"""Engagement events: one row per natural key, gone after RETENTION_DAYS and with the company."""

from __future__ import annotations

from store import engagement, tenants
from store.db import Store
from sync.syncback.engagement.events import event_of
from sync.syncback.engagement.view import person_view

ROW = {"mailing_id": "7", "msg_id": "m1", "email": "ada@example.com", "type": "permanent"}


def test_the_same_event_twice_is_stored_once(store: Store) -> None:
    first = event_of("bounce", 42, ROW, 1_764_000_000.0)
    # the webhook's copy of the same bounce: other time form, no mailing, same message id
    webhook = event_of("bounce", 42, {"msg_id": "m1"}, 1_764_000_001.0)
    assert engagement.add_events(store, 1, [first]) == [first]
    assert engagement.add_events(store, 1, [first, webhook]) == []
    assert engagement.count_events(store, 1) == 1
    click = event_of("click", 42, {"mailing_id": "7", "link_url": "https://a"}, 1_764_000_000.0)
    other = event_of("click", 42, {"mailing_id": "7", "link_url": "https://b"}, 1_764_000_000.0)
    assert len(engagement.add_events(store, 1, [click, other, click])) == 2


def test_events_go_after_retention_and_with_the_company(store: Store) -> None:
    engagement.add_events(store, 1, [event_of("sent", 42, ROW, 1_764_000_000.0)])
    engagement.record_write(store, 1, "note:x", 42, "note", "2026-12-07")
    assert engagement.prune(store, 1, cutoff=0) == 0
    assert engagement.count_events(store, 1) == 1
    installation = tenants.list_installations(store, 1)[0]
    assert tenants.delete_installation(store, 1, installation["user_id"])
    assert engagement.count_events(store, 1) == 0
    assert not engagement.written(store, 1, "note:x")
    assert store.scalar("SELECT count(*) FROM engagement_writes") == 0


def test_prune_forgets_old_events(store: Store) -> None:
    engagement.add_events(store, 1, [event_of("sent", 42, ROW, 1_764_000_000.0)])
    engagement.record_write(store, 1, "note:x", 42, "note", "2026-12-07")
    assert engagement.prune(store, 1, cutoff=float("inf")) == 1
    assert engagement.count_events(store, 1) == 0 and not engagement.written(store, 1, "note:x")


def test_the_panel_orders_mailings_whose_ids_are_not_ascii_digits(store: Store) -> None:
    """Mailing ids come from Maileon's reports: "²" passes str.isdigit() but not int()."""
    same_second = 1_764_000_000.0
    engagement.add_events(
        store,
        1,
        [
            event_of("sent", 42, {**ROW, "mailing_id": "\u00b2", "msg_id": "a"}, same_second),
            event_of("sent", 42, {**ROW, "mailing_id": "8", "msg_id": "b"}, same_second),
        ],
    )
    view = person_view(store, 1, 42)
    assert [m["id"] for m in view["mailings"]] == ["8", "\u00b2"]
