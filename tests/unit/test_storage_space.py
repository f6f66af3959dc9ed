"""The database file does not only grow: routine periodic runs leave no job rows, and what
the retention prune deletes goes back to the disk."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from store import jobs, queue, space
from store.db import Store, now
from tests.unit.conftest import add_company


def test_a_routine_periodic_run_leaves_no_row_and_a_logged_one_stays(store: Store) -> None:
    with store.tx() as db:
        queue.upsert_job(db, 1, "periodic.sweep", "company", {"action": "run"})
        queue.upsert_job(db, 1, "periodic.webhooks", "company", {"action": "run"})
    sweep, hooks = sorted(queue.lease(store, 8, 60), key=lambda j: j.kind)
    queue.finish(store, sweep, "ok", "nothing changed", logged=False)
    queue.finish(store, hooks, "ok", "missing Pipedrive webhooks re-created: 1")
    kinds = [r["kind"] for r in store.all("SELECT kind FROM jobs")]
    assert kinds == ["periodic.webhooks"]


def _live_pages(store: Store, tmp_path: Path) -> int:
    """The pages of the same rows, tables and indexes written afresh (VACUUM INTO)."""
    compact = tmp_path / "compact.db"
    compact.unlink(missing_ok=True)
    with store.lock:
        store.db.execute("VACUUM INTO ?", (str(compact),))
    with closing(sqlite3.connect(compact)) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


def test_applied_webhook_jobs_kept_for_the_log_do_not_keep_the_pages_of_their_data(
    store: Store, tmp_path: Path
) -> None:
    person = {"name": "Ada Lovelace", "email": "ada@example.com", "notes": "x" * 1500}
    for batch in range(20):
        with store.tx() as db:
            for n in range(50):
                data = {**person, "id": batch * 50 + n}
                queue.upsert_job(
                    db, 1, "person", str(batch * 50 + n), {"action": "change", "data": data}
                )
        for job in queue.lease(store, 50, 60):
            queue.finish(store, job, "ok", "contact updated")
    space.reclaim(store)
    done = store.all("SELECT payload FROM jobs WHERE state='done'")
    assert len(done) == 1_000 and {r["payload"] for r in done} == {'{"action":"change"}'}
    pages, _ = space.file_pages(store)
    # a thousand 1.5 KB payloads took ~400 pages; what is kept fits in a few dozen
    assert pages <= 1.3 * _live_pages(store, tmp_path), (pages, _live_pages(store, tmp_path))


def test_after_a_retention_prune_the_file_holds_little_more_than_its_live_data(
    store: Store, tmp_path: Path
) -> None:
    add_company(store, 2, name="B")
    old = now() - 30 * 86400
    with store.tx() as db:
        db.conn.executemany(
            "INSERT INTO sync_log (company_id, at, job_id, kind, entity_id, result, message)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                (1 + n % 2, old if n % 10 else now(), None, "person", str(n), "ok", "x" * 300)
                for n in range(20_000)
            ],
        )
    jobs.prune(store, 1, now() - 14 * 86400)
    jobs.prune(store, 2, now() - 14 * 86400)
    space.reclaim(store)
    pages, free = space.file_pages(store)
    live = store.scalar("SELECT count(*) FROM sync_log")
    assert live == 2_000
    assert free == 0
    live_pages = _live_pages(store, tmp_path)
    assert pages <= 1.3 * live_pages, (pages, live_pages)
