"""Organization names for the ORGANIZATION field, cached in the store for a day."""

from __future__ import annotations

from store.db import now
from sync.context import Context

TTL = 86400.0


async def organization_names(ctx: Context, company_id: int, org_ids: set[int]
                             ) -> dict[int, str]:
    if not org_ids:
        return {}
    marks = ",".join("?" * len(org_ids))
    rows = ctx.store.all(
        f"SELECT org_id, name FROM organizations WHERE company_id=? AND org_id IN ({marks}) "  # noqa: S608
        "AND fetched_at > ?", (company_id, *org_ids, now() - TTL))
    names = {r["org_id"]: r["name"] for r in rows}
    missing = sorted(org_ids - names.keys())
    client = ctx.pipedrive(company_id) if missing else None
    for start in range(0, len(missing), 100):
        assert client is not None
        for org in await client.organizations(missing[start:start + 100]):
            names[int(org["id"])] = str(org.get("name") or "")
    fresh = [(company_id, oid, names[oid], now()) for oid in missing if oid in names]
    if fresh:
        with ctx.store.tx() as db:
            db.conn.executemany("INSERT OR REPLACE INTO organizations (company_id, org_id, name, "
                           "fetched_at) VALUES (?,?,?,?)", fresh)
    return names


def forget_organization(ctx: Context, company_id: int, org_id: int) -> None:
    ctx.store.execute("DELETE FROM organizations WHERE company_id=? AND org_id=?",
                      (company_id, org_id))
