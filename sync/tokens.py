"""Access tokens per installation: refreshed ahead of expiry and after a 401, one refresh at a
time per installation (concurrent callers wait for it and reuse the result)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from clients.errors import ReauthRequired
from clients.pipedrive import PipedriveClient, PipedriveOAuth
from store import tenants
from store.db import Store, now

log = logging.getLogger("pipedrive_maileon.tokens")

REFRESH_MARGIN = 120.0  # seconds before expiry


class TokenManager:
    def __init__(self, store: Store, oauth: PipedriveOAuth) -> None:
        self.store = store
        self.oauth = oauth
        self._locks: defaultdict[tuple[int, int], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._warned: set[int] = set()  # companies told about an unexpected token answer

    async def access_token(self, company_id: int, user_id: int) -> str:
        inst = self._installation(company_id, user_id)
        if inst.expires_at - REFRESH_MARGIN > now():
            return inst.access_token
        return await self.refresh(company_id, user_id, inst.access_token)

    async def refresh(self, company_id: int, user_id: int, rejected_token: str) -> str:
        """Refresh unless someone already did since `rejected_token` was read."""
        async with self._locks[(company_id, user_id)]:
            inst = self._installation(company_id, user_id)
            if inst.access_token != rejected_token and inst.expires_at - REFRESH_MARGIN > now():
                return inst.access_token
            try:
                tokens = await self.oauth.refresh(inst.refresh_token)
            except ReauthRequired:
                tenants.mark_needs_reauth(self.store, company_id, user_id)
                raise
            if not tokens.api_domain and company_id not in self._warned:
                self._warned.add(company_id)
                log.warning(
                    "company %s: Pipedrive's token refresh answer has no api_domain; "
                    "the stored API domain is kept",
                    company_id,
                )
            tenants.update_tokens(
                self.store,
                company_id,
                user_id,
                tokens.access_token,
                tokens.refresh_token,
                tokens.expires_in,
            )
            return tokens.access_token

    def client(self, company_id: int, user_id: int) -> PipedriveClient:
        inst = self._installation(company_id, user_id)
        return PipedriveClient(
            self.oauth.http,
            inst.api_domain,
            get_token=lambda: self.access_token(company_id, user_id),
            refresh_token=lambda rejected: self.refresh(company_id, user_id, rejected),
        )

    def _installation(self, company_id: int, user_id: int) -> tenants.Installation:
        inst = tenants.get_installation(self.store, company_id, user_id)
        if inst is None:
            raise ReauthRequired("the app is not installed for this user any more")
        if inst.status != "active":
            raise ReauthRequired("the Pipedrive authorization expired; please re-authorize the app")
        return inst
