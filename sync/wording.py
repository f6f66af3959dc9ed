"""Counted nouns in plain words: "1 open deal", "3 webhooks"."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """`one` is the singular phrase; `many` defaults to it with an "s"."""
    if count == 1:
        return f"1 {one}"
    return f"{count} {many or one + 's'}"
