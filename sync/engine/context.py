"""What every part of the sync engine shares: the store, the config, one HTTP client, tokens,
and per-company API clients built from the company's working installation."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from clients.errors import ApiError, PermanentError, ReauthRequired, TransientError
from clients.maileon import MaileonClient
from clients.pipedrive import PipedriveClient, PipedriveOAuth
from store import company_checks, queue, tenants
from store.db import Store
from store.group_commit import GroupCommit
from sync.engine.slots import JobSlot, SharedLock, Slots, hold, lock_passed, wait_for
from sync.engine.tokens import TokenManager
from sync.persons.new_contacts import MAX_BATCH, NewContacts
from sync.runs.page_prefetch import PagePrefetch

if TYPE_CHECKING:
    from appconfig import Config


T = TypeVar("T")
KEY_STATUS_BY_ERROR = {401: "invalid", 403: "forbidden"}


@dataclass
class Gate:
    until: float  # monotonic
    pause: float
    probing: bool = False


@dataclass(frozen=True)
class WorkerTrouble:
    """The worker cannot use the database: since when (epoch seconds), and the error."""

    since: float
    message: str


@dataclass
class Context:
    config: Config
    store: Store
    http: httpx.AsyncClient
    tokens: TokenManager
    # per (company, service): no calls before this time (a 429 with Retry-After pauses all)
    gates: dict[tuple[int, str], Gate] = field(default_factory=dict)
    caches: dict[tuple[int, str], tuple[float, object]] = field(default_factory=dict)
    key_problems: set[int] = field(default_factory=set)
    # the persons whose lock is held or waited for (an entry goes with its last user)
    person_locks: dict[tuple[int, int], SharedLock] = field(default_factory=dict)
    company_locks: dict[tuple[int, str], SharedLock] = field(default_factory=dict)
    worker_trouble: WorkerTrouble | None = None  # set while the worker's database calls fail
    intake: GroupCommit = field(init=False)  # webhooks' events, stored in group commits
    slots: Slots = field(init=False)  # the worker's concurrency
    new_contacts: NewContacts = field(init=False)  # first writes of persons, batched
    prefetch: PagePrefetch = field(default_factory=PagePrefetch)  # an import's next page
    slot: JobSlot | None = None  # a job's own worker slot, in the Context its handler gets

    def for_job(self, slot: JobSlot | None) -> Context:
        """The Context a job's handler gets: everything shared, plus the job's own slot."""
        job_ctx = copy.copy(self)
        job_ctx.slot = slot
        return job_ctx

    def without_slot(self) -> Context:
        """For tasks a job spawns while it waits without its slot (they hold none)."""
        return self.for_job(None)

    async def wait_for(self, awaitable: Awaitable[T]) -> T:
        """The one way to wait on another job (a batch, a lock): the slot goes back meanwhile
        (sync/engine/slots.py)."""
        return await wait_for(self.slot, awaitable)

    def __post_init__(self) -> None:
        self.intake = GroupCommit(self.store)
        # per company: one batch of new contacts in flight and one filling, plus the slots;
        # in all, at most ten batches' worth of jobs wait without a slot
        self.slots = Slots(
            self.config.worker_concurrency,
            max_parked=10 * MAX_BATCH,
            per_company=2 * MAX_BATCH + self.config.worker_concurrency,
            ahead=MAX_BATCH,  # a lease per batch's worth of jobs, not per freed slot
        )
        self.new_contacts = NewContacts(self.maileon, self.slots)

    @classmethod
    def create(cls, config: Config, store: Store, http: httpx.AsyncClient) -> Context:
        oauth = PipedriveOAuth(http, config.oauth_url, config.client_id, config.client_secret)
        problems = tenants.key_problem_companies(store)
        return cls(
            config=config,
            store=store,
            http=http,
            tokens=TokenManager(store, oauth, config.api_domain_allowed),
            key_problems=problems,
        )

    @property
    def oauth(self) -> PipedriveOAuth:
        return self.tokens.oauth

    def pipedrive(self, company_id: int) -> PipedriveClient:
        self.check_gate(company_id, "Pipedrive")
        inst = tenants.working_installation(self.store, company_id)
        if inst is None:
            raise ReauthRequired("no user of this company has a valid Pipedrive authorization")
        return self.tokens.client(company_id, inst.user_id)

    def maileon(self, company_id: int, api_key: str | None = None) -> MaileonClient:
        if api_key is None:
            self.check_gate(company_id, "Maileon")
            api_key = tenants.get_settings(self.store, company_id).maileon_api_key
            if not api_key:
                raise PermanentError("no Maileon API key is set")
            if company_id in self.key_problems:
                return MaileonClient(
                    self.http,
                    self.config.maileon_api_url,
                    api_key,
                    on_accepted=lambda: self._key_works(company_id),
                )
        return MaileonClient(self.http, self.config.maileon_api_url, api_key)

    def _key_works(self, company_id: int) -> None:
        """Maileon accepts the key again: what failed for the key is retried by itself."""
        if company_id in self.key_problems:
            self.key_problems.discard(company_id)
            tenants.update_settings(self.store, company_id, maileon_key_status="valid")
            queue.retry_failed(self.store, company_id, cause="maileon_key")

    def check_gate(self, company_id: int, service: str) -> None:
        """After a 429, wait it out; then let one call probe while the others keep waiting."""
        gate = self.gates.get((company_id, service))
        if gate is None:
            return
        now = time.monotonic()
        wait = gate.until - now
        if wait <= 0 and not gate.probing:
            gate.probing = True
            gate.until = now + gate.pause  # the others wait while this call probes
            return
        if wait > 0:
            raise TransientError(
                f"waiting for the {service} rate limit to reset", retry_after=wait, service=service
            )

    def note_failure(self, company_id: int, exc: ApiError) -> None:
        """A 429 with a wait pauses every call of this company to that service; a Maileon key
        that stops working shows as such in the sync health."""
        if isinstance(exc, TransientError) and exc.status == 429 and exc.retry_after:
            self.gates[(company_id, exc.service)] = Gate(
                time.monotonic() + exc.retry_after, exc.retry_after
            )
        if exc.service == "Maileon" and exc.status in KEY_STATUS_BY_ERROR:
            tenants.update_settings(
                self.store, company_id, maileon_key_status=KEY_STATUS_BY_ERROR[exc.status]
            )
            self.key_problems.add(company_id)

    def note_success(self, company_id: int) -> None:
        """A job went through: a probing gate has done its work."""
        for key in [k for k, g in self.gates.items() if k[0] == company_id and g.probing]:
            del self.gates[key]

    @asynccontextmanager
    async def person_lock(self, company_id: int, person_id: int) -> AsyncIterator[None]:
        """Serializes the read-modify-write of one person's state across job kinds and the
        panel (a person job, a Maileon event and a click may touch the same person at once).
        One lock per person in use, so memory does not grow with the persons seen and no two
        persons wait for each other: with stripes, a person's job waited for an unrelated
        person's job parked until its batch call returned. A job that must wait for it waits
        without its worker slot (sync/engine/slots.py)."""
        key = (company_id, person_id)
        lock = self.person_locks.setdefault(key, SharedLock())
        try:
            async with hold(lock, self.slot):
                yield
        finally:
            if not lock.users and self.person_locks.get(key) is lock:
                del self.person_locks[key]

    def cached(self, company_id: int, name: str, ttl: float) -> object | None:
        hit = self.caches.get((company_id, name))
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    @asynccontextmanager
    async def company_lock(self, company_id: int, purpose: str) -> AsyncIterator[None]:
        """One at a time per company and purpose: filling a cache entry (a burst's first jobs
        all miss it and would each make the same API call), configuring the company, creating
        a Maileon transaction type. Per app, so it lives with the app's event loop. A job waits
        for it without its slot, and may take it under a person lock (never the reverse)."""
        lock = self.company_locks.setdefault((company_id, purpose), SharedLock())
        async with hold(lock, self.slot, company=True):
            yield

    async def fill_once(
        self,
        company_id: int,
        purpose: str,
        read: Callable[[], T | None],
        fill: Callable[[], Awaitable[T]],
    ) -> T:
        """What `read` finds, else `fill`'s result, filled by one job at a time per company and
        purpose (`company_lock`). The jobs that find it being filled wait without their slot
        until it is, then read it and go on together: a company's first chunk of jobs
        (sync/engine/slots.py) reaches its shared batch call at once, not one by one each
        after taking a slot to pass the lock."""
        found = read()
        if found is not None:
            return found
        lock = self.company_locks.setdefault((company_id, purpose), SharedLock())
        if lock.users:
            await self.wait_for(lock_passed(lock))
            found = read()
            if found is not None:
                return found
        async with self.company_lock(company_id, purpose):
            found = read()
            if found is not None:
                return found  # filled by the job we waited for
            return await fill()

    def remember(self, company_id: int, name: str, value: object, ttl: float) -> None:
        self.caches[(company_id, name)] = (time.monotonic() + ttl, value)

    def checked(
        self,
        company_id: int,
        name: str,
        ttl: float,
        decode: Callable[[Any], object | None] = lambda stored: stored,
    ) -> object | None:
        """A check of the company's accounts made lately, by this process or before a
        restart (`remember_check`; `decode` turns what was stored back into the value, None
        when it cannot)."""
        found = self.cached(company_id, name, ttl)
        if found is None:
            stored = company_checks.get(self.store, company_id, name, ttl)
            found = None if stored is None else decode(stored)
            if found is not None:
                self.remember(company_id, name, found, ttl)
        return found

    def remember_check(
        self, company_id: int, name: str, value: object, ttl: float, stored: object = None
    ) -> None:
        """`remember`, and keep it across restarts for as long (`checked`): `stored`, the
        value as JSON-like data, when the value itself is not."""
        self.remember(company_id, name, value, ttl)
        company_checks.put(self.store, company_id, name, value if stored is None else stored, ttl)

    def forget(self, company_id: int) -> None:
        """Its settings or installation changed: nothing cached or checked holds any more."""
        for key in [k for k in self.caches if k[0] == company_id]:
            del self.caches[key]
        company_checks.forget(self.store, company_id)
