"""Organization names cached per company (the ORGANIZATION contact field)."""

from __future__ import annotations

from store.db import Store, now


def fresh_names(store: Store, company_id: int, org_ids: set[int], max_age: float) -> dict[int, str]:
    """The cached names fetched within `max_age` seconds."""
    if not org_ids:
        return {}
    marks = ",".join("?" * len(org_ids))
    rows = store.all(
        f"SELECT org_id, name FROM organizations WHERE company_id=? AND org_id IN ({marks}) "  # noqa: S608
        "AND fetched_at > ?",
        (company_id, *org_ids, now() - max_age),
    )
    return {r["org_id"]: r["name"] for r in rows}


def save_names(store: Store, company_id: int, names: dict[int, str]) -> None:
    if not names:
        return
    t = now()
    with store.tx() as db:
        db.table("organizations").upsert_all(
            [
                {"company_id": company_id, "org_id": oid, "name": name, "fetched_at": t}
                for oid, name in names.items()
            ],
            pk=("company_id", "org_id"),
        )


def forget(store: Store, company_id: int, org_id: int) -> None:
    with store.tx() as db:
        db.table("organizations").delete_where("company_id=? AND org_id=?", (company_id, org_id))
