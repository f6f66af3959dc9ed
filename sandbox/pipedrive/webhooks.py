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
        errors: dict[str, list[str]] = {}
        url = body.get("subscription_url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if not url:
            errors["subscription_url"] = ["subscription_url is required"]
        elif parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors["subscription_url"] = ["invalid or non-reachable URL"]
        version = str(body.get("version") or "2.0")
        if version not in ("1.0", "2.0"):
            errors["version"] = ["version must be 1.0 or 2.0"]
        action = body.get("event_action")
        allowed = V1_ACTIONS if version == "1.0" else V2_ACTIONS
        if not action:
            errors["event_action"] = ["event_action is required"]
        elif action not in allowed:
            errors["event_action"] = [
                f"event_action must be one of {', '.join(sorted(allowed))} for version {version}"
            ]
        obj = body.get("event_object")
        if not obj:
            errors["event_object"] = ["event_object is required"]
        elif obj not in EVENT_OBJECTS:
            errors["event_object"] = ["invalid event_object"]
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            errors["name"] = ["name must be a string of at most 255 characters"]
        user_id = auth.user_id
        if body.get("user_id") not in (None, ""):
            try:
                user_id = self.check.check_user(auth.company_id, body["user_id"], "user_id")
            except ApiError:
                errors["user_id"] = ["user not found"]
        if errors:
            raise ApiError(400, {"status": "error", "success": False, "errors": errors})
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
                "event_action": action,
                "event_object": obj,
                "subscription_url": url,
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
                "name": name,
                "fail_count": 0,
                "banned_until": None,
            }
            self.core.webhooks[hook["id"]] = hook
            return self.webhook_out(hook)

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
