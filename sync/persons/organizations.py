"""Organization names for the ORGANIZATION field, cached in the store for a day."""

from __future__ import annotations

from store import organizations
from sync.engine.context import Context
from sync.persons import field_mapping

TTL = 86400.0


async def organization_names(ctx: Context, company_id: int, org_ids: set[int]) -> dict[int, str]:
    if not org_ids:
        return {}
    names = organizations.fresh_names(ctx.store, company_id, org_ids, TTL)
    missing = sorted(org_ids - names.keys())
    client = ctx.pipedrive(company_id) if missing else None
    for start in range(0, len(missing), 100):
        assert client is not None
        for org in await client.organizations(missing[start : start + 100]):
            names[int(org["id"])] = str(org.get("name") or "")
    organizations.save_names(
        ctx.store, company_id, {oid: names[oid] for oid in missing if oid in names}
    )
    return names


def forget_organization(ctx: Context, company_id: int, org_id: int) -> None:
    organizations.forget(ctx.store, company_id, org_id)
    field_mapping.forget_organization(ctx, company_id, org_id)  # its address (F16)
