"""Access tokens per installation: refreshed ahead of expiry and after a 401, one refresh at a
time per installation (concurrent callers wait for it and reuse the result).

A refresh answer names the company's current `api_domain` (it changes when the company's domain
does). A new one is stored and used from the next call on, when `PIPEDRIVE_API_DOMAINS` allows
it as at install; the company domain of deal links is then read again from `users/me`. A refused
one is never sent a token: the stored domain stays and the settings page says why."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable

from clients.errors import ApiError, ReauthRequired
from clients.pipedrive import PipedriveClient, PipedriveOAuth, TokenSet
from store import tenants
from store.db import Store, now

log = logging.getLogger("pipedrive_maileon.tokens")

REFRESH_MARGIN = 120.0  # seconds before expiry


class TokenManager:
    def __init__(
        self,
        store: Store,
        oauth: PipedriveOAuth,
        api_domain_allowed: Callable[[str], bool],
    ) -> None:
        self.store = store
        self.oauth = oauth
        self.api_domain_allowed = api_domain_allowed
        self._locks: defaultdict[tuple[int, int], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._warned: set[int] = set()  # companies told about an unexpected token answer
        self._refused: set[tuple[int, str]] = set()  # api_domains refused, told once each
        self._domains: dict[int, str] = {}  # api_domains learnt by a refresh, by company

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
            moved = self._take_api_domain(company_id, inst.api_domain, tokens)
            tenants.update_tokens(
                self.store,
                company_id,
                user_id,
                tokens.access_token,
                tokens.refresh_token,
                tokens.expires_in,
            )
        if moved:
            await self._reread_company_domain(company_id, tokens)
        return tokens.access_token

    def _take_api_domain(self, company_id: int, stored: str, tokens: TokenSet) -> bool:
        """Store a changed api_domain the configuration allows (True); otherwise keep the
        stored one, telling about a missing one in the log and a refused one on the page."""
        new = tokens.api_domain
        if not new:
            if company_id not in self._warned:
                self._warned.add(company_id)
                log.warning(
                    "company %s: Pipedrive's token refresh answer has no api_domain; "
                    "the stored API domain is kept",
                    company_id,
                )
            return False
        if new == stored.rstrip("/"):
            return False
        if not self.api_domain_allowed(new):
            if (company_id, new) not in self._refused:
                self._refused.add((company_id, new))
                message = (
                    f"Pipedrive named a new API address {new[:200]!r} for this company, which "
                    "PIPEDRIVE_API_DOMAINS does not allow; the app keeps using "
                    f"{stored!r} and sends no token there. If the address is Pipedrive's, "
                    "allow it in PIPEDRIVE_API_DOMAINS."
                )
                log.warning("company %s: %s", company_id, message)
                tenants.note_refused_api_domain(self.store, company_id, message)
            return False
        tenants.set_api_domain(self.store, company_id, new)
        self._domains[company_id] = new
        log.info("company %s: Pipedrive's API address is now %s", company_id, new)
        return True

    async def _reread_company_domain(self, company_id: int, tokens: TokenSet) -> None:
        """The company domain (deal links) after an api_domain change, from `users/me`."""

        async def token() -> str:
            return tokens.access_token

        async def no_refresh(_: str) -> str:
            return tokens.access_token

        try:
            me = await PipedriveClient(
                self.oauth.http, tokens.api_domain, token, no_refresh
            ).users_me()
        except ApiError as exc:
            log.warning("company %s: company domain not re-read: %s", company_id, exc.message)
            return
        domain = me.get("company_domain")
        if isinstance(domain, str) and domain and str(me.get("company_id")) == str(company_id):
            tenants.set_company_domain(self.store, company_id, domain)

    def client(self, company_id: int, user_id: int) -> PipedriveClient:
        inst = self._installation(company_id, user_id)

        async def token() -> str:
            value = await self.access_token(company_id, user_id)
            client.base = self._domains.get(company_id, client.base)
            return value

        async def refreshed(rejected: str) -> str:
            value = await self.refresh(company_id, user_id, rejected)
            client.base = self._domains.get(company_id, client.base)  # the retry goes there
            return value

        client = PipedriveClient(self.oauth.http, inst.api_domain, token, refreshed)
        return client

    def _installation(self, company_id: int, user_id: int) -> tenants.Installation:
        inst = tenants.get_installation(self.store, company_id, user_id)
        if inst is None:
            raise ReauthRequired("the app is not installed for this user any more")
        if inst.status != "active":
            raise ReauthRequired("the Pipedrive authorization expired; please re-authorize the app")
        return inst
