"""How API failures are classified for the worker and the pages.

Transient failures are retried later (429, 5xx, timeouts, connection errors); permanent ones end
the job as failed with the reason in plain words; the user can retry after fixing the cause.
"""

from __future__ import annotations


class ApiError(Exception):
    """A call failed. `message` is plain words safe to show a user (never a secret)."""

    def __init__(self, message: str, status: int = 0, service: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.service = service


class TransientError(ApiError):
    def __init__(
        self, message: str, status: int = 0, retry_after: float | None = None, service: str = ""
    ) -> None:
        super().__init__(message, status, service)
        self.retry_after = retry_after


class PermanentError(ApiError):
    pass


class NotFound(PermanentError):
    pass


class Unauthorized(PermanentError):
    """Credentials rejected (Maileon key invalid/expired, Pipedrive token invalid)."""


class Forbidden(PermanentError):
    """Credentials valid but lacking a privilege or scope."""


class ReauthRequired(PermanentError):
    """The Pipedrive refresh token is no longer valid: a user must install the app again."""
