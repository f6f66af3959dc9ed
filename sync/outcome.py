"""What a job handler returns; errors are raised as clients.errors exceptions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    result: str  # ok | skipped
    message: str
    logged: bool = True  # routine periodic runs stay out of the sync log

    @classmethod
    def ok(cls, message: str) -> Outcome:
        return cls("ok", message)

    @classmethod
    def skipped(cls, message: str) -> Outcome:
        return cls("skipped", message)

    @classmethod
    def quiet(cls, message: str) -> Outcome:
        return cls("ok", message, logged=False)
