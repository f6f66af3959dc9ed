"""API v2 lists (`GET /api/v2/persons`, `/organizations`, `/deals`): checked paging and sort
parameters, filters and cursor pages, as the reference describes them (§3.2, §5.1)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.pipedrive.helpers import decode_cursor, encode_cursor, fail, int_param, parse_rfc3339
from sandbox.pipedrive.model import MAX_LIMIT

Row = dict[str, Any]
SORT_FIELDS = ("id", "update_time", "add_time")


@dataclass(frozen=True)
class Order:
    """A list's sort: by id, update_time or add_time (ties by id), ascending or descending."""

    sort_by: str
    desc: bool

    def key(self, r: Row) -> tuple[int, int]:
        """A row's place; a cursor holds the key of its page's last row."""
        value = r["id"] if self.sort_by == "id" else int(r[self.sort_by].timestamp())
        return (int(value), int(r["id"]))

    def after(self, rows: list[Row], cursor: tuple[int, ...]) -> list[Row]:
        """The rows that come after the cursor's row."""
        desc = self.desc
        if self.sort_by == "id":  # the same test, without a key tuple per record
            return [r for r in rows if (r["id"] < cursor[1] if desc else r["id"] > cursor[1])]
        key = self.key
        return [r for r in rows if (key(r) < cursor if desc else key(r) > cursor)]

    def first(self, rows: list[Row], count: int) -> list[Row]:
        """The first `count` rows in this order, without sorting every record for each page."""
        by: Callable[[Row], Any] = (lambda r: r["id"]) if self.sort_by == "id" else self.key
        return (heapq.nlargest if self.desc else heapq.nsmallest)(count, rows, key=by)


def list_page(
    q: Mapping[str, str],
    records: Iterable[Row],
    render: Callable[[Row], Row],
    filters: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """One page of a v2 list and its next cursor (None on the last page); a bad parameter is a
    400, checked in this order: limit, sort, filters, cursor."""
    limit = _limit(q)
    order = _order(q)
    rows = _filtered(q, list(records), filters)
    if q.get("cursor"):
        rows = order.after(rows, _cursor(q["cursor"]))
    top = order.first(rows, limit + 1)
    page = top[:limit]
    next_cursor = encode_cursor(list(order.key(page[-1]))) if len(top) > limit else None
    return {
        "success": True,
        "data": [render(r) for r in page],
        "additional_data": {"next_cursor": next_cursor},
    }


def _limit(q: Mapping[str, str]) -> int:
    limit = int_param(q.get("limit"), "limit", 100)
    if limit > MAX_LIMIT:
        raise fail(400, "Validation failed: limit: Number must be less than or equal to 500")
    if limit < 1:
        raise fail(400, "Validation failed: limit: must be positive")
    return limit


def _order(q: Mapping[str, str]) -> Order:
    sort_by = q.get("sort_by", "id")
    if sort_by not in SORT_FIELDS:
        raise fail(400, "Validation failed: sort_by: must be one of id, update_time, add_time")
    direction = q.get("sort_direction", "asc")
    if direction not in ("asc", "desc"):
        raise fail(400, "Validation failed: sort_direction: must be asc or desc")
    return Order(sort_by, direction == "desc")


def _filtered(
    q: Mapping[str, str], rows: list[Row], filters: Iterable[tuple[str, str]]
) -> list[Row]:
    """The rows that `ids`, the list's own id filters, `status` and the update window keep."""
    if q.get("ids"):
        rows = _with_ids(q["ids"], rows)
    for param, attr in filters:
        if q.get(param):
            values = {int_param(x, param, 0) for x in q[param].split(",")}
            rows = [r for r in rows if r.get(attr) in values]
    if q.get("status"):
        statuses = set(q["status"].split(","))
        rows = [r for r in rows if r.get("status") in statuses]
    return _updated_window(q, rows)


def _with_ids(raw: str, rows: list[Row]) -> list[Row]:
    ids = [int_param(x, "ids", 0) for x in raw.split(",") if x.strip()]
    if len(ids) > 100:
        raise fail(400, "Validation failed: ids: at most 100 ids")
    wanted = set(ids)
    return [r for r in rows if r["id"] in wanted]


def _updated_window(q: Mapping[str, str], rows: list[Row]) -> list[Row]:
    """`updated_since` (inclusive) and `updated_until` (exclusive), to the second."""
    if q.get("updated_since"):
        since = parse_rfc3339(q["updated_since"], "updated_since")
        rows = [r for r in rows if r["update_time"].replace(microsecond=0) >= since]
    if q.get("updated_until"):
        until = parse_rfc3339(q["updated_until"], "updated_until")
        rows = [r for r in rows if r["update_time"].replace(microsecond=0) < until]
    return rows


def _cursor(raw: str) -> tuple[int, ...]:
    after = tuple(decode_cursor(raw))
    if len(after) != 2:
        raise fail(400, "Invalid cursor")
    return after
