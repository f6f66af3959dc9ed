"""Companies, their installations (per user, with encrypted tokens) and company settings."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from store import synclog
from store.crypto import DecryptError
from store.db import Store, now

CUSTOM_FIELD_SLOTS = 5  # the slots the form always shows (Custom field 1 … 5)
MAX_FIELD_MAPPINGS = 30  # "Add field" goes up to this many (F16)


@dataclass
class Installation:
    company_id: int
    user_id: int
    user_name: str
    is_admin: bool
    access_token: str
    refresh_token: str
    expires_at: float
    status: str
    api_domain: str


@dataclass
class Settings:
    company_id: int
    maileon_api_key: str = ""
    maileon_key_status: str = "unset"
    initial_permission: int = 2
    doi_enabled: bool = True
    doi_mailing_key: str = ""
    doi_plus: bool = False
    contacts_sync: bool = False
    deals_sync: bool = False
    custom_fields: list[str] = field(default_factory=lambda: [""] * CUSTOM_FIELD_SLOTS)
    # the Maileon field each slot writes, "" = the default for its Pipedrive field (F16,
    # sync/persons/field_mapping.py); as long as custom_fields
    field_targets: list[str] = field(default_factory=lambda: [""] * CUSTOM_FIELD_SLOTS)
    newsletter_field_key: str = ""
    newsletter_options: dict[str, int] = field(default_factory=dict)
    sync_user_id: int | None = None
    webhook_user: str = ""
    webhook_password: str = ""
    maileon_webhook_token: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.maileon_api_key)


def _ctx(table: str, column: str, *key: Any) -> str:
    return f"{table}.{column}:" + ":".join(str(k) for k in key)


def upsert_company(
    store: Store, db: Any, company_id: int, name: str, domain: str, api_domain: str
) -> None:
    db.execute(
        "INSERT INTO companies (id, name, domain, api_domain, created_at) VALUES (?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET name=excluded.name, domain=excluded.domain, "
        "api_domain=excluded.api_domain",
        (company_id, name, domain, api_domain, now()),
    )
    db.execute(
        # A new company starts with the DOI process on (F4): a tick then asks the recipient.
        "INSERT OR IGNORE INTO settings (company_id, doi_enabled, updated_at) VALUES (?,1,?)",
        (company_id, now()),
    )


def save_installation(
    store: Store,
    *,
    company_id: int,
    company_name: str,
    domain: str,
    api_domain: str,
    user_id: int,
    user_name: str,
    is_admin: bool,
    access_token: str,
    refresh_token: str,
    expires_in: float,
    scope: str,
) -> None:
    box = store.box
    t = now()
    with store.tx() as db:
        upsert_company(store, db, company_id, company_name, domain, api_domain)
        db.execute(
            "INSERT INTO installations (company_id, user_id, user_name, is_admin, access_token,"
            " refresh_token, expires_at, scope, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?, 'active', ?, ?)"
            " ON CONFLICT(company_id, user_id) DO UPDATE SET user_name=excluded.user_name,"
            " is_admin=excluded.is_admin, access_token=excluded.access_token,"
            " refresh_token=excluded.refresh_token, expires_at=excluded.expires_at,"
            " scope=excluded.scope, status='active', updated_at=excluded.updated_at",
            (
                company_id,
                user_id,
                user_name,
                int(is_admin),
                box.encrypt(access_token, _ctx("installations", "access", company_id, user_id)),
                box.encrypt(refresh_token, _ctx("installations", "refresh", company_id, user_id)),
                t + expires_in,
                scope,
                t,
                t,
            ),
        )


def update_tokens(
    store: Store,
    company_id: int,
    user_id: int,
    access_token: str,
    refresh_token: str,
    expires_in: float,
) -> None:
    box = store.box
    with store.tx() as db:
        db.execute(
            "UPDATE installations SET access_token=?, refresh_token=?, expires_at=?, "
            "status='active', updated_at=? WHERE company_id=? AND user_id=?",
            (
                box.encrypt(access_token, _ctx("installations", "access", company_id, user_id)),
                box.encrypt(refresh_token, _ctx("installations", "refresh", company_id, user_id)),
                now() + expires_in,
                now(),
                company_id,
                user_id,
            ),
        )


def set_api_domain(store: Store, company_id: int, api_domain: str) -> None:
    store.execute("UPDATE companies SET api_domain=? WHERE id=?", (api_domain, company_id))


def set_company_domain(store: Store, company_id: int, domain: str) -> None:
    store.execute("UPDATE companies SET domain=? WHERE id=?", (domain, company_id))


def note_refused_api_domain(store: Store, company_id: int, message: str) -> None:
    """A sync-log line the settings page shows as needing attention."""
    with store.tx() as db:
        synclog.write(db, company_id, "pipedrive.api_domain", str(company_id), "attention", message)


def mark_needs_reauth(store: Store, company_id: int, user_id: int) -> None:
    store.execute(
        "UPDATE installations SET status='needs_reauth', updated_at=? "
        "WHERE company_id=? AND user_id=?",
        (now(), company_id, user_id),
    )


def get_installation(store: Store, company_id: int, user_id: int) -> Installation | None:
    row = store.one(
        "SELECT i.*, c.api_domain FROM installations i JOIN companies c ON c.id=i.company_id "
        "WHERE i.company_id=? AND i.user_id=?",
        (company_id, user_id),
    )
    if row is None:
        return None
    box = store.box
    return Installation(
        company_id=row["company_id"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        is_admin=bool(row["is_admin"]),
        access_token=box.decrypt(
            row["access_token"], _ctx("installations", "access", company_id, user_id)
        ),
        refresh_token=box.decrypt(
            row["refresh_token"], _ctx("installations", "refresh", company_id, user_id)
        ),
        expires_at=row["expires_at"],
        status=row["status"],
        api_domain=row["api_domain"],
    )


def list_installations(store: Store, company_id: int) -> list[dict[str, Any]]:
    return store.all(
        "SELECT user_id, user_name, is_admin, status, expires_at, updated_at "
        "FROM installations WHERE company_id=? ORDER BY user_id",
        (company_id,),
    )


def working_installation(store: Store, company_id: int) -> Installation | None:
    """The installation the company's sync runs under: the configuring admin, else any admin,
    else any active user."""
    preferred = store.scalar("SELECT sync_user_id FROM settings WHERE company_id=?", (company_id,))
    rows = store.all(
        "SELECT user_id FROM installations WHERE company_id=? AND status='active' "
        "ORDER BY (user_id = ?) DESC, is_admin DESC, user_id",
        (company_id, preferred or -1),
    )
    return get_installation(store, company_id, rows[0]["user_id"]) if rows else None


def delete_installation(store: Store, company_id: int, user_id: int) -> bool:
    """Remove one user's installation; wipe the company when it was the last. True if wiped."""
    with store.tx() as db:
        db.execute(
            "DELETE FROM installations WHERE company_id=? AND user_id=?", (company_id, user_id)
        )
        left = db.execute(
            "SELECT count(*) FROM installations WHERE company_id=?", (company_id,)
        ).fetchone()[0]
        if left == 0:
            db.execute("DELETE FROM companies WHERE id=?", (company_id,))
            return True
    return False


def get_settings(store: Store, company_id: int) -> Settings:
    row = store.one("SELECT * FROM settings WHERE company_id=?", (company_id,))
    if row is None:
        return Settings(company_id=company_id)
    box = store.box

    def dec(column: str) -> str:
        value = row[column] or ""
        return box.decrypt(value, _ctx("settings", column, company_id)) if value else ""

    stored = json.loads(row["custom_fields"])[:MAX_FIELD_MAPPINGS]
    size = max(CUSTOM_FIELD_SLOTS, len(stored))
    slots = (stored + [""] * size)[:size]
    targets = (json.loads(row["field_targets"] or "[]") + [""] * size)[:size]
    return Settings(
        company_id=company_id,
        maileon_api_key=dec("maileon_api_key"),
        maileon_key_status=row["maileon_key_status"],
        initial_permission=row["initial_permission"],
        doi_enabled=bool(row["doi_enabled"]),
        doi_mailing_key=row["doi_mailing_key"],
        doi_plus=bool(row["doi_plus"]),
        contacts_sync=bool(row["contacts_sync"]),
        deals_sync=bool(row["deals_sync"]),
        custom_fields=slots,
        field_targets=targets,
        newsletter_field_key=row["newsletter_field_key"],
        newsletter_options=json.loads(row["newsletter_options"]),
        sync_user_id=row["sync_user_id"],
        webhook_user=row["webhook_user"],
        webhook_password=dec("webhook_password"),
        maileon_webhook_token=dec("maileon_webhook_token"),
    )


def webhook_credentials(store: Store, company_id: int) -> tuple[str, str] | None:
    """The company's Pipedrive webhook Basic credentials (user, password), or None. Only what
    the webhook receiver needs: one narrow row read and one decryption on its hot path."""
    row = store.one(
        "SELECT webhook_user, webhook_password FROM settings WHERE company_id=?", (company_id,)
    )
    if row is None or not row["webhook_user"] or not row["webhook_password"]:
        return None
    return row["webhook_user"], store.box.decrypt(
        row["webhook_password"], _ctx("settings", "webhook_password", company_id)
    )


ENCRYPTED_SETTINGS = ("maileon_api_key", "webhook_password", "maileon_webhook_token")


def update_settings(store: Store, company_id: int, **values: Any) -> None:
    """Write the given settings columns; secrets are encrypted, lists/dicts stored as JSON."""
    if not values:
        return
    cols, params = [], []
    for column, value in values.items():
        if column in ENCRYPTED_SETTINGS and value:
            value = store.box.encrypt(value, _ctx("settings", column, company_id))
        elif isinstance(value, list | dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = int(value)
        cols.append(f"{column}=?")
        params.append(value)
    params += [now(), company_id]
    with store.tx() as db:
        db.execute(
            f"UPDATE settings SET {', '.join(cols)}, updated_at=? "  # noqa: S608
            "WHERE company_id=?",
            params,
        )


def ensure_webhook_credentials(store: Store, company_id: int) -> Settings:
    """Random per-company Basic-auth credentials for Pipedrive webhooks and the Maileon token."""
    settings = get_settings(store, company_id)
    updates: dict[str, Any] = {}
    if not settings.webhook_user or not settings.webhook_password:
        updates["webhook_user"] = f"pd{company_id}-{secrets.token_hex(4)}"
        updates["webhook_password"] = secrets.token_urlsafe(32)
    if not settings.maileon_webhook_token:
        updates["maileon_webhook_token"] = secrets.token_urlsafe(32)
    if updates:
        update_settings(store, company_id, **updates)
        settings = get_settings(store, company_id)
    return settings


def company_ids(store: Store) -> list[int]:
    return [r["id"] for r in store.all("SELECT id FROM companies ORDER BY id")]


def sample_secret_readable(store: Store) -> bool | None:
    """Whether one stored secret (the newest installation's access token) decrypts; None when
    nothing is stored yet."""
    row = store.one(
        "SELECT company_id, user_id, access_token FROM installations "
        "ORDER BY updated_at DESC LIMIT 1"
    )
    if row is None:
        return None
    try:
        store.box.decrypt(
            row["access_token"], _ctx("installations", "access", row["company_id"], row["user_id"])
        )
    except DecryptError:
        return False
    return True


def set_admin(store: Store, company_id: int, user_id: int, is_admin: bool) -> None:
    """Admin rights as Pipedrive states them now (web.admin_rights)."""
    store.execute(
        "UPDATE installations SET is_admin=? WHERE company_id=? AND user_id=?",
        (int(is_admin), company_id, user_id),
    )


def company(store: Store, company_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM companies WHERE id=?", (company_id,))


def company_domain(store: Store, company_id: int) -> str | None:
    value = store.scalar("SELECT domain FROM companies WHERE id=?", (company_id,))
    return str(value) if value is not None else None


def company_exists(store: Store, company_id: int) -> bool:
    return store.scalar("SELECT 1 FROM companies WHERE id=?", (company_id,)) is not None


def other_installations(store: Store, company_id: int, user_id: int) -> int:
    """How many of the company's installations are not this user's."""
    return int(
        store.scalar(
            "SELECT count(*) FROM installations WHERE company_id=? AND user_id<>?",
            (company_id, user_id),
        )
        or 0
    )


def key_problem_companies(store: Store) -> set[int]:
    """Companies whose stored Maileon key was refused (invalid or forbidden)."""
    return {
        r["company_id"]
        for r in store.all(
            "SELECT company_id FROM settings WHERE maileon_key_status IN ('invalid','forbidden')"
        )
    }
