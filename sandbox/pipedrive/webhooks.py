"""Webhook registrations (admin): create, list, uninstall."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.helpers import iso_ms, utcnow
from sandbox.pipedrive.model import (
    EVENT_OBJECTS,
    V1_ACTIONS,
    V2_ACTIONS,
    WEBHOOKS_PER_USER,
    ApiError,
    Auth,
)
from sandbox.pipedrive.validation import Validation


class WebhookAdmin:
    """Webhook registration rules."""

    def __init__(self, check: Validation, core: SimCore) -> None:
        self.check = check
        self.core = core

    # ------------------------------------------------------------------ webhooks (admin)

    def create_webhook(self, auth: Auth, body: dict[str, Any]) -> dict[str, Any]:
        """Registers a webhook for the caller; every invalid field is named in one 400."""
        version = str(body.get("version") or "2.0")
        found = {
            "subscription_url": _url_error(body.get("subscription_url")),
            "version": None if version in ("1.0", "2.0") else "version must be 1.0 or 2.0",
            "event_action": _action_error(body.get("event_action"), version),
            "event_object": _object_error(body.get("event_object")),
            "name": _name_error(body.get("name")),
        }
        user_id, found["user_id"] = self._webhook_user(auth, body)
        errors = {field: [why] for field, why in found.items() if why}
        if errors:
            raise ApiError(400, {"status": "error", "success": False, "errors": errors})
        return self._register(auth, body, version, user_id)

    def _register(
        self, auth: Auth, body: dict[str, Any], version: str, user_id: int
    ) -> dict[str, Any]:
        """Stores a checked registration, unless the caller has the most webhooks allowed."""
        with self.core.lock:
            owned = [
                w
                for w in self.core.webhooks.values()
                if w["company_id"] == auth.company_id and w["owner_id"] == auth.user_id
            ]
            if len(owned) >= WEBHOOKS_PER_USER:
                raise ApiError(
                    422, {"success": False, "error": "Webhooks limit reached", "errorCode": 422}
                )
            hook: dict[str, Any] = {
                "id": next(self.core._ids["webhook"]),
                "company_id": auth.company_id,
                "owner_id": auth.user_id,
                "user_id": user_id,
                "event_action": body["event_action"],
                "event_object": body["event_object"],
                "subscription_url": body["subscription_url"],
                "version": version,
                "is_active": 1,
                "add_time": iso_ms(utcnow()),
                "remove_time": None,
                "type": "application",
                "http_auth_user": body.get("http_auth_user") or None,
                "http_auth_password": body.get("http_auth_password") or None,
                "remove_reason": None,
                "last_delivery_time": None,
                "last_http_status": None,
                "admin_id": auth.user_id,
                "name": body.get("name"),
                "fail_count": 0,
                "banned_until": None,
            }
            self.core.webhooks[hook["id"]] = hook
            return self.webhook_out(hook)

    def _webhook_user(self, auth: Auth, body: dict[str, Any]) -> tuple[int, str | None]:
        """The user whose events the webhook gets: the caller unless `user_id` names another."""
        if body.get("user_id") in (None, ""):
            return auth.user_id, None
        try:
            return self.check.check_user(auth.company_id, body["user_id"], "user_id"), None
        except ApiError:
            return auth.user_id, "user not found"

    def webhook_out(self, hook: dict[str, Any], internal: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in hook.items() if k not in ("fail_count", "banned_until")}
        banned = (hook["banned_until"] or 0) > time.time()
        out["is_active"] = 0 if banned else 1
        if internal:
            out["fail_count"] = hook["fail_count"]
            out["banned"] = banned
            out["banned_until"] = (
                iso_ms(datetime.fromtimestamp(hook["banned_until"], UTC)) if banned else None
            )
        return out

    def uninstall_user(self, company_id: int, user_id: int) -> None:
        """Pipedrive removes the app's webhooks of a user when the app is uninstalled."""
        for hook in list(self.core.webhooks.values()):
            if hook["company_id"] == company_id and hook["owner_id"] == user_id:
                del self.core.webhooks[hook["id"]]


def _url_error(url: Any) -> str | None:
    if not url:
        return "subscription_url is required"
    if not isinstance(url, str):
        return "invalid or non-reachable URL"
    try:  # `http://[::1` and `http://host:99999` raise
        parts = urlsplit(url)
        reachable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - read for its check
    except ValueError:
        return "invalid or non-reachable URL"
    return None if reachable else "invalid or non-reachable URL"


def _action_error(action: Any, version: str) -> str | None:
    allowed = V1_ACTIONS if version == "1.0" else V2_ACTIONS
    if not action:
        return "event_action is required"
    if action not in allowed:
        return f"event_action must be one of {', '.join(sorted(allowed))} for version {version}"
    return None


def _object_error(obj: Any) -> str | None:
    if not obj:
        return "event_object is required"
    return None if obj in EVENT_OBJECTS else "invalid event_object"


def _name_error(name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        return "name must be a string of at most 255 characters"
    return None
