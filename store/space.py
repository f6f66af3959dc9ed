"""Giving freed pages back to the file system (auto_vacuum=INCREMENTAL, migration m071)."""

from __future__ import annotations

from store.db import Store


def reclaim(store: Store) -> int:
    """Move the free pages to the end of the file and truncate it; how many were freed.
    Outside a transaction. Through executescript: each step of the pragma frees one page, and
    only sqlite3_exec steps it to the end (a cursor stopped after the first page)."""
    with store.lock:
        free = int(store.db.execute("PRAGMA freelist_count").fetchone()[0])
        if free:
            store.db.conn.executescript("PRAGMA incremental_vacuum;")
    return free


def file_pages(store: Store) -> tuple[int, int]:
    """(pages in the file, of them free)."""
    with store.lock:
        pages = int(store.db.execute("PRAGMA page_count").fetchone()[0])
        free = int(store.db.execute("PRAGMA freelist_count").fetchone()[0])
    return pages, free
