"""Engagement into Pipedrive (F15), without a new scope: a note per hard bounce and per
unsubscribe, the person fields **Last newsletter click** (date) and **Email bounced** (date; set
by a permanent bounce or a bounce-policy block, cleared only by a user), and, when switched on, a
daily click digest note. Never anything per open, never per soft bounce.

Each write is recorded under its key before the next, so nothing is written twice; writes are
budgeted per person and per company per day (Pipedrive's daily token budget: a note costs 10
tokens, a person update 5). A person that is deleted or merged away is skipped."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from html import escape
from typing import Any

from clients.digits import ascii_int
from clients.errors import ApiError, Forbidden, NotFound
from clients.pipedrive_notes import add_person_note
from store import engagement as store
from store import people, synclog
from store.engagement import EngagementSettings
from sync.engine.context import Context
from sync.persons.fields import person_fields
from sync.webhook.parse import normalize_time
from sync.wording import plural

LAST_CLICK = "Last newsletter click"
BOUNCED = "Email bounced"
PER_PERSON_DAY = 6  # writes per person and day
PER_COMPANY_DAY = 1500  # writes per company and day (≈ 12,000 of Pipedrive's tokens)
LOG_KIND = "engagement"


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def ensure_field(ctx: Context, eng: EngagementSettings, name: str) -> str:
    """The key of our date field `name`, found by name or created like the Newsletter field."""
    which = "last_click_field" if name == LAST_CLICK else "bounced_field"
    known = getattr(eng, which)
    fields = await person_fields(ctx, eng.company_id, refresh=not known)
    if known and known in fields:
        return str(known)
    field = next((f for f in fields.values() if f.name == name and f.custom), None)
    if field is None:
        raw = await ctx.pipedrive(eng.company_id).add_person_field(name, "date", [])
        key = str(raw.get("key") or raw.get("field_code") or "")
    else:
        key = field.key
    if key:
        store.save_field_key(ctx.store, eng.company_id, which, key)
        setattr(eng, which, key)
    return key


class Writer:
    """The writes of one batch of new events for one company."""

    def __init__(self, ctx: Context, company_id: int, fresh: set[str] | None = None) -> None:
        self.ctx = ctx
        self.fresh = fresh
        self.company_id = company_id
        self.eng = store.get_settings(ctx.store, company_id)
        self.day = today()
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.names: dict[int, str | None] = {}

    def budget_left(self, person_id: int) -> bool:
        s, c = self.ctx.store, self.company_id
        return (
            store.writes_today(s, c, self.day) < PER_COMPANY_DAY
            and store.writes_today(s, c, self.day, person_id) < PER_PERSON_DAY
        )

    async def person_name(self, person_id: int) -> str | None:
        """The person's name, None when deleted or merged away in Pipedrive."""
        if person_id not in self.names:
            raw = await self.ctx.pipedrive(self.company_id).get_person(person_id)
            alive = isinstance(raw, dict) and not raw.get("is_deleted")
            if alive and raw is not None and ascii_int(raw.get("id")) != person_id:
                alive = False  # merged: Pipedrive answers with the surviving person
            self.names[person_id] = (
                str(raw.get("name") or f"#{person_id}") if alive and raw else None
            )
        return self.names[person_id]

    def log(self, person_id: int, result: str, message: str, subject: str) -> None:
        with self.ctx.store.tx() as db:
            synclog.write(
                db, self.company_id, LOG_KIND, str(person_id), result, message, subject=subject
            )

    async def write(
        self, key: str, person_id: int, target: str, what: str, act: Any, event_key: str
    ) -> None:
        """One budgeted, recorded, logged write; `act` does it. `event_key`: the event it is
        for (a write held back by the budget is logged only while that event is fresh)."""
        if store.written(self.ctx.store, self.company_id, key):
            return
        name = await self.person_name(person_id)
        if name is None:
            self.skipped.append(key)
            self.log(
                person_id,
                "skipped",
                f"{what}: person #{person_id} was deleted or merged in Pipedrive; nothing written",
                "",
            )
            store.record_write(self.ctx.store, self.company_id, key, person_id, "skipped", self.day)
            return
        if not self.budget_left(person_id):
            self.skipped.append(key)
            if self.fresh is None or event_key in self.fresh:
                self.log(
                    person_id,
                    "skipped",
                    f"{what} → not written yet: the day's budget of Pipedrive writes is used "
                    "up (it is written on a later day)",
                    name,
                )
            return
        try:
            await act()
        except (NotFound, Forbidden) as exc:
            self.skipped.append(key)
            self.log(person_id, "skipped", f"{what}: Pipedrive refused ({exc.message})", name)
            store.record_write(self.ctx.store, self.company_id, key, person_id, "refused", self.day)
            return
        store.record_write(self.ctx.store, self.company_id, key, person_id, target, self.day)
        self.done.append(target)
        self.log(person_id, "ok", f"{what} → {target} on {name}", name)

    async def set_date(self, person_id: int, field_name: str, at: float) -> None:
        key = await ensure_field(self.ctx, self.eng, field_name)
        if not key:
            raise ApiError(f"Pipedrive did not return the {field_name} field", 502)
        updated = await self.ctx.pipedrive(self.company_id).patch_person(
            person_id, {"custom_fields": {key: day_of(at)}}
        )
        state = people.get(self.ctx.store, self.company_id, person_id)
        # our own write echoes back as a person change: remember it so the echo is a no-op
        state.last_update_time = max(
            state.last_update_time, normalize_time((updated or {}).get("update_time"))
        )
        people.save(self.ctx.store, state)


def describe(event: dict[str, Any], mailing: str) -> str:
    who = event["email"] or f"person #{event['person_id']}"
    if event["kind"] == "bounce":
        return f"Hard bounce of {who} in '{mailing}'" + (
            f" ({event['code']})" if event["code"] else ""
        )
    if event["kind"] == "unsubscribe":
        return f"Unsubscribe of {who} from '{mailing}'"
    if event["kind"] == "block":
        return f"Maileon blocked {who} (bounce policy)"
    return f"Click of {who} in '{mailing}'"


def note_html(event: dict[str, Any], mailing: str) -> str:
    what = {
        "bounce": "Newsletter hard bounce",
        "unsubscribe": "Unsubscribed from the newsletter",
    }[event["kind"]]
    lines = [
        f"<b>{escape(what)}</b>",
        f"Mailing: {escape(mailing)}",
        f"Time: {escape(when(event['at']))}",
    ]
    if event["kind"] == "bounce":
        lines.append(f"Reason: bounce code {escape(event['code'] or 'unknown')}")
    else:
        lines.append(f"How: {escape(event['source'] or 'unknown')}")
    return "<br>".join(lines)


async def write_events(
    ctx: Context,
    company_id: int,
    events: list[dict[str, Any]],
    fresh: set[str] | None = None,
) -> str:
    """Write what `events` call for and was not written yet; a summary in words ('' when
    nothing). `fresh`: the keys of the events new to this read (None: all are), so a write the
    day's budget holds back is logged once, not at every read that tries it again."""
    w = Writer(ctx, company_id, fresh)
    eng = w.eng
    if not events or not (eng.notes or eng.fields or eng.digest):
        return ""
    labels = store.mailings(
        ctx.store, company_id, sorted({e["mailing_id"] for e in events if e["mailing_id"]})
    )

    def mailing(e: dict[str, Any]) -> str:
        row = labels.get(e["mailing_id"])
        return (
            str(row["name"])
            if row
            else (f"Mailing {e['mailing_id']}" if e["mailing_id"] else "a mailing")
        )

    clicks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(events, key=lambda e: e["at"]):
        await _bounce_or_unsubscribe(w, e, mailing)
        if e["kind"] == "click":
            clicks[e["person_id"]].append(e)
    for pid, mine in clicks.items():
        await _clicks(w, pid, mine, mailing)
    parts = []
    if w.done:
        parts.append(plural(len(w.done), "Pipedrive write"))
    if w.skipped:
        parts.append(plural(len(w.skipped), "write") + " skipped")
    return ", ".join(parts)


async def _bounce_or_unsubscribe(w: Writer, e: dict[str, Any], mailing: Any) -> None:
    """A note per hard bounce and unsubscribe; the Email bounced field on a hard bounce or a
    bounce-policy block."""
    pid = e["person_id"]
    hard = e["kind"] == "bounce" and e["bounce_type"] == "hard"
    blocked = e["kind"] == "block" and e["source"] == "blocked"
    if w.eng.notes and (hard or e["kind"] == "unsubscribe"):
        await w.write(
            f"note:{e['key']}",
            pid,
            "note",
            describe(e, mailing(e)),
            lambda: add_person_note(
                w.ctx.pipedrive(w.company_id), pid, note_html(e, mailing(e)), e["at"]
            ),
            e["key"],
        )
    if w.eng.fields and (hard or blocked):
        await w.write(
            f"bounced:{e['key']}",
            pid,
            f"field {BOUNCED}",
            describe(e, mailing(e)),
            lambda: w.set_date(pid, BOUNCED, e["at"]),
            e["key"],
        )


async def _clicks(w: Writer, pid: int, mine: list[dict[str, Any]], mailing: Any) -> None:
    """A person's clicks (oldest first): the Last newsletter click field, and the digest."""
    last = mine[-1]
    if w.eng.fields:
        await w.write(
            f"click:{pid}:{day_of(last['at'])}",
            pid,
            f"field {LAST_CLICK}",
            describe(last, mailing(last)),
            lambda: w.set_date(pid, LAST_CLICK, last["at"]),
            last["key"],
        )
    if w.eng.digest:
        await digest(w, pid, mine, mailing)


async def digest(w: Writer, pid: int, clicks: list[dict[str, Any]], mailing: Any) -> None:
    """One note per person and day listing the day's clicks (the digest, off by default)."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in clicks:
        by_day[day_of(e["at"])].append(e)
    for day, mine in by_day.items():
        if day == today():
            continue  # the day is not over: the next read writes it
        lines = [f"<b>Newsletter clicks on {escape(day)}</b>"] + [
            f"{escape(mailing(e))}: {escape(e['link'] or 'a link')}" for e in mine
        ]
        await w.write(
            f"digest:{pid}:{day}",
            pid,
            "click digest note",
            plural(len(mine), "click") + f" on {day}",
            lambda lines=lines, pid=pid, at=mine[-1]["at"]: add_person_note(
                w.ctx.pipedrive(w.company_id), pid, "<br>".join(lines), at
            ),
            mine[-1]["key"],
        )
