"""Pipedrive: OAuth token endpoint and the REST API (v1 for webhooks/users/fields, v2 for data).

The REST base is the `api_domain` of the token response, never hard-coded. A 401 triggers one
token refresh and one retry; 429 and 5xx surface as TransientError with the wait Pipedrive asked
for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from clients import safe_json
from clients.digits import ascii_int
from clients.errors import ApiError, PermanentError, ReauthRequired, TransientError
from clients.http import classify, retry_after_seconds, send

SERVICE = "Pipedrive"
LOW_REMAINING = 2
MAX_BURST_WAIT = 2.0  # the burst window is 2 seconds


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_in: float
    api_domain: str
    scope: str


class PipedriveOAuth:
    def __init__(
        self, http: httpx.AsyncClient, oauth_url: str, client_id: str, client_secret: str
    ) -> None:
        self.http = http
        self.oauth_url = oauth_url.rstrip("/")
        self.auth = httpx.BasicAuth(client_id, client_secret)
        self.client_id = client_id

    def authorize_url(self, redirect_uri: str, state: str | None) -> str:
        params = {"client_id": self.client_id, "redirect_uri": redirect_uri}
        if state:
            params["state"] = state
        return str(httpx.URL(f"{self.oauth_url}/oauth/authorize", params=params))

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        tokens = await self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )
        if not tokens.api_domain:  # the REST base is never guessed (spec §3)
            raise PermanentError("Pipedrive's token answer named no api_domain")
        return tokens

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token(self, form: dict[str, str]) -> TokenSet:
        response = await send(
            SERVICE,
            lambda: self.http.post(f"{self.oauth_url}/oauth/token", data=form, auth=self.auth),
        )
        body = _json(response)
        if response.status_code == 400 and body.get("error") == "invalid_grant":
            raise ReauthRequired(
                "Pipedrive no longer accepts this authorization; please re-authorize the app", 400
            )
        if response.status_code >= 300:
            raise classify(response, "Pipedrive OAuth", str(body.get("message", "")))
        try:
            return TokenSet(
                access_token=body["access_token"],
                refresh_token=body["refresh_token"],
                expires_in=float(body.get("expires_in", 3600)),
                # UNCONFIRMED whether a refresh answer always has it: a
                # missing one is '' and the stored domain stays (sync/engine/tokens.py)
                api_domain=str(body.get("api_domain") or "").rstrip("/"),
                scope=str(body.get("scope", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PermanentError("Pipedrive answered the token request unexpectedly") from None


class PipedriveClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_domain: str,
        get_token: Callable[[], Awaitable[str]],
        refresh_token: Callable[[str], Awaitable[str]],
    ) -> None:
        self.http = http
        self.base = api_domain.rstrip("/")
        self.get_token = get_token
        self.refresh_token = refresh_token

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        token = await self.get_token()
        for attempt in (1, 2):
            response = await send(
                SERVICE,
                lambda t=token: self.http.request(  # type: ignore[misc]
                    method,
                    f"{self.base}{path}",
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {t}"},
                ),
            )
            if response.status_code == 401 and attempt == 1:
                token = await self.refresh_token(token)
                continue
            body = _json(response)
            if response.status_code >= 300:
                raise classify(response, SERVICE, _error_text(body))
            await _respect_burst_window(response)
            return body
        raise TransientError("Pipedrive kept rejecting a freshly refreshed token", 401)

    # --- identity -----------------------------------------------------------------------
    async def users_me(self) -> dict[str, Any]:
        return _data_object(await self.request("GET", "/api/v1/users/me"), "/users/me")

    # --- webhooks -------------------------------------------------------------------------
    async def list_webhooks(self) -> list[dict[str, Any]]:
        return (await self.request("GET", "/api/v1/webhooks")).get("data") or []

    async def add_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return _data_object(
            await self.request("POST", "/api/v1/webhooks", json=body), "a new webhook"
        )

    async def delete_webhook(self, webhook_id: int) -> None:
        try:
            await self.request("DELETE", f"/api/v1/webhooks/{webhook_id}")
        except ApiError as exc:
            if exc.status != 404:
                raise

    # --- persons, organizations, deals (API v2) -------------------------------------------
    async def get_person(self, person_id: int) -> dict[str, Any] | None:
        return await self._get_or_none(f"/api/v2/persons/{person_id}")

    async def list_persons(
        self, *, cursor: str | None = None, limit: int = 500, updated_since: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if updated_since:
            params.update(updated_since=updated_since, sort_by="update_time", sort_direction="asc")
        body = await self.request("GET", "/api/v2/persons", params=params)
        return body.get("data") or [], (body.get("additional_data") or {}).get("next_cursor")

    async def patch_person(self, person_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return _data_object(
            await self.request("PATCH", f"/api/v2/persons/{person_id}", json=body),
            "a person update",
        )

    async def organizations(self, ids: list[int]) -> list[dict[str, Any]]:
        body = await self.request(
            "GET",
            "/api/v2/organizations",
            params={"ids": ",".join(str(i) for i in ids[:100]), "limit": 100},
        )
        return body.get("data") or []

    async def get_deal(self, deal_id: int) -> dict[str, Any] | None:
        return await self._get_or_none(f"/api/v2/deals/{deal_id}")

    async def pipelines(self) -> list[dict[str, Any]]:
        return await self._all_pages("/api/v2/pipelines")

    async def stages(self) -> list[dict[str, Any]]:
        return await self._all_pages("/api/v2/stages")

    async def _all_pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated API v2 list."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            body = await self.request("GET", path, params=params)
            items += body.get("data") or []
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return items

    # --- person fields (v1: stable across accounts, paginated) ----------------------------
    async def person_fields(self) -> list[dict[str, Any]]:
        fields: list[dict[str, Any]] = []
        start = 0
        while True:
            body = await self.request(
                "GET", "/api/v1/personFields", params={"start": start, "limit": 500}
            )
            fields += body.get("data") or []
            page = (body.get("additional_data") or {}).get("pagination") or {}
            if not page.get("more_items_in_collection"):
                return fields
            start = int(page.get("next_start", start + 500))

    async def add_person_field(
        self, name: str, field_type: str, options: list[str]
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "field_type": field_type,
            "options": [{"label": label} for label in options],
        }
        return _data_object(
            await self.request("POST", "/api/v1/personFields", json=body), "a new person field"
        )

    async def _get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return (await self.request("GET", path)).get("data")
        except ApiError as exc:
            if exc.status in (404, 410):
                return None
            raise


async def _respect_burst_window(response: httpx.Response) -> None:
    """Almost out of this 2-second window's requests: wait for it to reset instead of
    running into a 429 (Pipedrive's `x-ratelimit-remaining` / `x-ratelimit-reset`)."""
    remaining = ascii_int(response.headers.get("x-ratelimit-remaining", ""))
    if remaining is not None and remaining <= LOW_REMAINING:
        await asyncio.sleep(min(retry_after_seconds(response) or 1.0, MAX_BURST_WAIT))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = safe_json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"data": body}


def _data_object(body: dict[str, Any], what: str) -> dict[str, Any]:
    """The `data` object of a 2xx answer; any other shape is a visible failure (retried, then
    failed with this reason), never a silent success."""
    data = body.get("data")
    if not isinstance(data, dict):
        raise TransientError(
            f"Pipedrive answered {what} without the expected data object", service=SERVICE
        )
    return data


def _error_text(body: dict[str, Any]) -> str:
    for key in ("error", "message"):
        if isinstance(body.get(key), str):
            return str(body[key])
    errors = body.get("errors")
    if isinstance(errors, dict):
        return "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in errors.items()
        )
    return ""
