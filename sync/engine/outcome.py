"""What a job handler returns; errors are raised as clients.errors exceptions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    result: str  # ok | skipped | attention (like skipped, but a user should act)
    message: str
    logged: bool = True  # routine periodic runs stay out of the sync log

    @classmethod
    def ok(cls, message: str) -> Outcome:
        return cls("ok", message)

    @classmethod
    def skipped(cls, message: str) -> Outcome:
        return cls("skipped", message)

    @classmethod
    def attention(cls, message: str) -> Outcome:
        """Nothing was synced and a user must act (e.g. Subscribed without a valid email);
        like skipped, it is not retried."""
        return cls("attention", message)

    @classmethod
    def quiet(cls, message: str) -> Outcome:
        return cls("ok", message, logged=False)
