"""The `/1.0` middleware: API-key auth, the per-account request log, XML errors."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.maileon.core import SimCore
from sandbox.maileon.model import Account, ApiError, now_ms
from sandbox.maileon.xmlio import error_xml


class ApiGate:
    """Authenticates `/1.0` calls, records them in the account's request log, renders errors."""

    def __init__(self, app: ASGIApp, sim: SimCore) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        account, problem = self.sim.authenticate(scope)
        if problem is not None:
            await problem(scope, receive, send)
            return
        assert account is not None
        scope["maileon_account"] = account
        try:
            await self.app(scope, receive, send_wrapper)
        except ApiError as exc:
            response = exc.body or error_xml(exc.status, exc.message)
            await response(scope, receive, send_wrapper)
        except HTTPException as exc:
            message = {404: "resource not found", 405: "method not allowed"}.get(
                exc.status_code, exc.detail
            )
            await error_xml(exc.status_code, message, dict(exc.headers or {}))(
                scope, receive, send_wrapper
            )
        finally:
            account.requests.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    "time": now_ms(),
                    "emails": scope.get("sim_emails", []),
                }
            )


def acc_of(request: Request) -> Account:
    account: Account = request.scope["maileon_account"]
    return account
