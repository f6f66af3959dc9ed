"""Rate limiting and the wrappers that authenticate API calls and render errors."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.model import ApiError, Auth
from sandbox.pipedrive.oauth import OAuth


class Gate:
    """Bearer auth and burst rate limits around API handlers."""

    def __init__(self, core: SimCore, oauth: OAuth) -> None:
        self.core = core
        self.oauth = oauth

    # ------------------------------------------------------------------ rate limiting

    def _rate_check(self, token: str) -> tuple[bool, dict[str, str]]:
        window = 2.0 * self.core.time_scale
        now = time.monotonic()
        with self.core.lock:
            hits = self.core.rate.setdefault(token, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            allowed = len(hits) < self.core.rate_limit
            if allowed:
                hits.append(now)
            reset = window - (now - hits[0]) if hits else window
            headers = {
                "x-ratelimit-limit": str(self.core.rate_limit),
                "x-ratelimit-remaining": str(max(0, self.core.rate_limit - len(hits))),
                "x-ratelimit-reset": str(max(1, math.ceil(reset))),
            }
        return allowed, headers

    def _api(
        self,
        handler: Callable[[Request, Auth], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            with self.core.lock:
                tok = self.oauth.token_auth(request.headers.get("authorization"))
                moved = self.core.companies[tok.company_id].get("api_domain") if tok else None
            # a company whose domain changed: its old host no longer knows its tokens (the
            # token refresh answer names the new api_domain)
            if tok is None or (moved and urlsplit(moved).netloc != request.headers.get("host")):
                return JSONResponse(
                    {
                        "success": False,
                        "error": "Invalid token: access_token is invalid",
                        "errorCode": 401,
                    },
                    status_code=401,
                )
            request.scope["pd_user_id"] = tok.user_id
            allowed, headers = self._rate_check(tok.token)
            if not allowed:
                return JSONResponse(
                    {"success": False, "error": "Request over limit", "errorCode": 429},
                    status_code=429,
                    headers=headers,
                )
            try:
                response = await handler(request, Auth(tok.token, tok.company_id, tok.user_id))
            except ApiError as exc:
                response = JSONResponse(exc.body, status_code=exc.status)
            response.headers.update(headers)
            return response

        return endpoint

    @staticmethod
    def _ctl(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.body, status_code=exc.status)

        return endpoint
