"""Schema, as sqlite-utils migrations. Never edit an applied migration; add a new one."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("pipedrive_maileon")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE companies (
            id INTEGER PRIMARY KEY,            -- Pipedrive company_id
            name TEXT NOT NULL DEFAULT '',
            domain TEXT NOT NULL DEFAULT '',
            api_domain TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        );
        CREATE TABLE installations (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,
            user_name TEXT NOT NULL DEFAULT '',
            is_admin INTEGER NOT NULL DEFAULT 0,
            access_token TEXT NOT NULL,        -- encrypted
            refresh_token TEXT NOT NULL,       -- encrypted
            expires_at REAL NOT NULL,
            scope TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active',   -- active | needs_reauth
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (company_id, user_id)
        );
        CREATE TABLE settings (
            company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
            maileon_api_key TEXT,              -- encrypted
            maileon_key_status TEXT NOT NULL DEFAULT 'unset',
            initial_permission INTEGER NOT NULL DEFAULT 2,
            doi_enabled INTEGER NOT NULL DEFAULT 0,
            doi_mailing_key TEXT NOT NULL DEFAULT '',
            contacts_sync INTEGER NOT NULL DEFAULT 0,
            deals_sync INTEGER NOT NULL DEFAULT 0,
            custom_fields TEXT NOT NULL DEFAULT '[]',      -- JSON list of 5 field keys or ''
            newsletter_field_key TEXT NOT NULL DEFAULT '',
            newsletter_options TEXT NOT NULL DEFAULT '{}', -- JSON label -> option id
            sync_user_id INTEGER,               -- the admin whose installation does the work
            webhook_user TEXT NOT NULL DEFAULT '',
            webhook_password TEXT NOT NULL DEFAULT '',     -- encrypted
            maileon_webhook_token TEXT NOT NULL DEFAULT '', -- encrypted
            updated_at REAL NOT NULL
        );
        CREATE TABLE pipedrive_webhooks (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            webhook_id INTEGER NOT NULL,
            event_object TEXT NOT NULL,
            event_action TEXT NOT NULL,
            user_id INTEGER NOT NULL,
            PRIMARY KEY (company_id, webhook_id)
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            source TEXT NOT NULL,              -- pipedrive | maileon
            dedupe_key TEXT NOT NULL,
            kind TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            received_at REAL NOT NULL,
            UNIQUE (company_id, dedupe_key)
        );
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            version TEXT NOT NULL DEFAULT '',  -- ordering key (update_time); newer replaces older
            state TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            run_after REAL NOT NULL,
            locked_until REAL NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX jobs_one_pending ON jobs (company_id, kind, entity_id)
            WHERE state = 'pending';
        CREATE INDEX jobs_due ON jobs (state, run_after);
        CREATE TABLE sync_log (
            id INTEGER PRIMARY KEY,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            at REAL NOT NULL,
            job_id INTEGER,
            kind TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            result TEXT NOT NULL,              -- ok | skipped | failed | retrying
            message TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX sync_log_company ON sync_log (company_id, id);
        CREATE TABLE persons (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL,
            email TEXT NOT NULL DEFAULT '',    -- the address the Maileon contact has
            last_update_time TEXT NOT NULL DEFAULT '',
            newsletter TEXT NOT NULL DEFAULT '',
            maileon_state TEXT NOT NULL DEFAULT '',  -- none | pending | subscribed | unsubscribed
            written_newsletter TEXT NOT NULL DEFAULT '', -- last value this app wrote to Pipedrive
            written_at REAL NOT NULL DEFAULT 0,
            synced_at REAL NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (company_id, person_id)
        );
        CREATE TABLE organizations (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            org_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            fetched_at REAL NOT NULL,
            PRIMARY KEY (company_id, org_id)
        );
        CREATE TABLE oauth_states (
            nonce TEXT PRIMARY KEY,
            expires_at REAL NOT NULL
        );
        CREATE TABLE cursors (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (company_id, name)
        );
        """
    )


@migrations()
def m002_deal_transactions(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE deal_transactions (
            id INTEGER PRIMARY KEY,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL,
            deal_id INTEGER NOT NULL,
            type TEXT NOT NULL,                -- Maileon transaction type name
            title TEXT NOT NULL DEFAULT '',
            sent_at REAL NOT NULL
        );
        CREATE INDEX deal_transactions_person ON deal_transactions (company_id, person_id, id);
        """
    )


@migrations()
def m004_person_data_hash(db: Database) -> None:
    """A fingerprint of what was last sent to Maileon, so echoes and no-op changes cost no call."""
    db.execute("ALTER TABLE persons ADD COLUMN data_hash TEXT NOT NULL DEFAULT ''")


@migrations()
def m005_imports(db: Database) -> None:
    """Import existing contacts (F12): one row per import, its saved cursor and counters."""
    db.executescript(
        """
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            state TEXT NOT NULL DEFAULT 'running',   -- running | done | cancelled
            phase TEXT NOT NULL DEFAULT 'counting',  -- counting | persons | deals | finished
            cursor TEXT,                             -- Pipedrive cursor of the next page
            counted INTEGER NOT NULL DEFAULT 0,      -- persons seen by the counting pass
            total INTEGER,                           -- known once the counting pass ended
            done INTEGER NOT NULL DEFAULT 0,         -- persons processed
            imported INTEGER NOT NULL DEFAULT 0,     -- contacts Maileon accepted
            skipped TEXT NOT NULL DEFAULT '{}',      -- JSON {reason: count}
            pages INTEGER NOT NULL DEFAULT 0,
            include_deals INTEGER NOT NULL DEFAULT 0,
            deals_queued INTEGER NOT NULL DEFAULT 0,
            started_by INTEGER NOT NULL DEFAULT 0,
            started_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL
        );
        CREATE INDEX imports_company ON imports (company_id, id);
        """
    )


@migrations()
def m006_import_rows(db: Database) -> None:
    """The import reads each Pipedrive page once: phase 'reading' stages the prepared contacts
    in import_rows, phase 'sending' sends them in seq order (imports.sent_seq is the last sent).
    Phases are now reading | sending | deals | finished; `counted` is the persons read so far.
    A running import of the old counting scheme starts over (re-sending is a harmless upsert)."""
    db.executescript(
        """
        ALTER TABLE imports ADD COLUMN sent_seq INTEGER NOT NULL DEFAULT 0;
        UPDATE imports SET phase='reading', cursor=NULL, counted=0, total=NULL, done=0,
            imported=0, skipped='{}'
            WHERE state='running' AND phase IN ('counting', 'persons');
        CREATE TABLE import_rows (
            import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,                    -- 1, 2, … in Pipedrive page order
            person_id INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT '',         -- why it is skipped; '' = to send
            email_key TEXT NOT NULL DEFAULT '',      -- lower-case email of a row to send
            update_time TEXT NOT NULL DEFAULT '',    -- the person's update_time when read
            label TEXT NOT NULL DEFAULT '',          -- Newsletter value when read
            contact TEXT NOT NULL DEFAULT '',        -- JSON contact for synchronize
            fingerprint TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (import_id, seq),
            UNIQUE (import_id, person_id)
        );
        CREATE INDEX import_rows_email ON import_rows (import_id, email_key);
        CREATE INDEX import_rows_company ON import_rows (company_id);
        """
    )


@migrations()
def m007_jobs_by_entity(db: Database) -> None:
    """The lease checks each candidate's entity for a running job: index that lookup."""
    db.execute("CREATE INDEX jobs_entity ON jobs (company_id, kind, entity_id, state)")


@migrations()
def m008_security_key_check(db: Database) -> None:
    """Issue #13. `key_check`: a known value encrypted at first start, so a wrong
    ENCRYPTION_KEY is noticed before any tenant request fails. `oauth_states` now holds *used*
    nonces (issued states are stateless), so the rows of issued states go. Tombstones of
    deleted or merged persons keep no address (store.people.save clears it from now on)."""
    db.executescript(
        """
        CREATE TABLE key_check (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            value TEXT NOT NULL,                 -- encrypted known value
            created_at REAL NOT NULL
        );
        DELETE FROM oauth_states;
        UPDATE persons SET email='', data_hash='', last_error='' WHERE deleted=1;
        """
    )


@migrations()
def m009_sync_rules(db: Database) -> None:
    """Sync rules (F14): the company's active rules, whether each person was inside them when
    last seen (to detect start and stop matching), and rule changes previewed and applied page
    by page like the import."""
    db.executescript(
        """
        CREATE TABLE sync_rules (
            company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
            rules TEXT NOT NULL,                     -- JSON, see sync/rules.py SyncRules
            updated_at REAL NOT NULL
        );
        CREATE TABLE rule_members (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL,
            matched INTEGER NOT NULL,                -- 1 inside the rules, 0 left out
            updated_at REAL NOT NULL,
            PRIMARY KEY (company_id, person_id)
        );
        CREATE TABLE rule_runs (
            id INTEGER PRIMARY KEY,
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            state TEXT NOT NULL,        -- previewing | previewed | applying | done | cancelled
            rules TEXT NOT NULL,        -- the proposed rules (JSON)
            cursor TEXT,                -- Pipedrive cursor of the next page
            pages INTEGER NOT NULL DEFAULT 0,
            read INTEGER NOT NULL DEFAULT 0,         -- persons read in this pass
            total INTEGER,                           -- persons the preview read
            matching INTEGER NOT NULL DEFAULT 0,     -- preview: persons with an email matching
            to_add INTEGER NOT NULL DEFAULT 0,       -- preview: matching without a contact
            to_remove INTEGER NOT NULL DEFAULT 0,    -- preview: contacts leaving (remove)
            to_keep INTEGER NOT NULL DEFAULT 0,      -- preview: contacts leaving (kept)
            added INTEGER NOT NULL DEFAULT 0,        -- apply: contacts created
            removed INTEGER NOT NULL DEFAULT 0,      -- apply: contacts removed
            kept INTEGER NOT NULL DEFAULT 0,         -- apply: contacts kept outside the rules
            owners_seen TEXT NOT NULL DEFAULT '[]',  -- owner ids met while reading (choices)
            started_by INTEGER NOT NULL DEFAULT 0,
            started_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL
        );
        CREATE INDEX rule_runs_company ON rule_runs (company_id, id);
        """
    )


@migrations()
def m010_outages(db: Database) -> None:
    """Per company and service, an outage seen by the worker (5xx, timeouts, 429 waits) and the
    entities whose changes wait on it, for the sync health card; indexes for the sync log view."""
    db.executescript(
        """
        CREATE TABLE outages (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            service TEXT NOT NULL,                 -- Maileon | Pipedrive
            since REAL NOT NULL,                   -- first failure of this outage
            last_at REAL NOT NULL,                 -- latest failure
            last_error TEXT NOT NULL DEFAULT '',   -- plain words, never a secret
            rate_limited INTEGER NOT NULL DEFAULT 0,  -- the latest failure was a 429 wait
            PRIMARY KEY (company_id, service)
        );
        CREATE TABLE outage_waits (
            company_id INTEGER NOT NULL,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            PRIMARY KEY (company_id, service, kind, entity_id),
            FOREIGN KEY (company_id, service) REFERENCES outages(company_id, service)
                ON DELETE CASCADE
        );
        CREATE INDEX outage_waits_entity ON outage_waits (company_id, kind, entity_id);
        -- the sync log's "latest line of this job / entity" lookups
        CREATE INDEX sync_log_job ON sync_log (job_id);
        CREATE INDEX sync_log_entity ON sync_log (company_id, kind, entity_id, id);
        """
    )


@migrations()
def m012_drop_pipedrive_webhooks(db: Database) -> None:
    """The `pipedrive_webhooks` table was never read or written (issue #17)."""
    db.execute("DROP TABLE IF EXISTS pipedrive_webhooks")


@migrations()
def m013_fairness_jobs_by_company(db: Database) -> None:
    """The fair lease walks each company's due jobs in order (index: state, company, due) and
    serves, between companies running as many jobs, the one it served longest ago."""
    db.executescript(
        """
        CREATE INDEX jobs_company_due ON jobs (state, company_id, run_after);
        CREATE TABLE lease_turns (
            company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
            leased_at REAL NOT NULL
        );
        """
    )


@migrations()
def m030_person_app_created(db: Database) -> None:
    """Whether the app created the person's Maileon contact (1), found it there (0) or does not
    know (NULL: asked from the contact's createdByPipedrive before removing it). Only contacts
    the app created are ever deleted (issue 22, spec F7/F14)."""
    db.executescript(
        """
        ALTER TABLE persons ADD COLUMN app_created INTEGER;
        UPDATE persons SET app_created = 1 WHERE maileon_state = 'none';
        UPDATE persons SET app_created = 0 WHERE maileon_state = 'found';
        """
    )


@migrations()
def m031_rule_runs_to_check(db: Database) -> None:
    """Preview of a 'remove' run: contacts leaving whose creator the app does not know yet;
    they are removed only if Maileon shows them created by the app (issue 22)."""
    db.execute("ALTER TABLE rule_runs ADD COLUMN to_check INTEGER NOT NULL DEFAULT 0")


@migrations()
def m040_sync_health_columns(db: Database) -> None:
    """Issue #23: the sync health card reads what each log line stored when it was written,
    through indexes, so no query of the page grows with the retained history. `subject`: the
    person's name or deal's title of the job; `hidden`: routine maintenance that had nothing to
    do; `attention`: each entity whose latest line needs attention (kept by store.synclog)."""
    db.executescript(
        """
        ALTER TABLE sync_log ADD COLUMN subject TEXT NOT NULL DEFAULT '';
        ALTER TABLE sync_log ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
        UPDATE sync_log SET hidden=1 WHERE result='skipped'
            AND kind IN ('periodic.webhooks', 'periodic.sweep', 'periodic.prune');
        UPDATE sync_log SET subject = coalesce((
            SELECT coalesce(json_extract(j.payload, '$.data.name'),
                            json_extract(j.payload, '$.data.title'),
                            json_extract(j.payload, '$.previous.name'),
                            json_extract(j.payload, '$.previous.title'))
            FROM jobs j WHERE j.id = sync_log.job_id AND json_valid(j.payload)), '')
            WHERE job_id IS NOT NULL AND kind IN ('person', 'deal');
        CREATE INDEX sync_log_shown ON sync_log (company_id, hidden, id);
        CREATE INDEX sync_log_result ON sync_log (company_id, result, at);
        CREATE TABLE attention (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            log_id INTEGER NOT NULL,               -- the entity's latest line
            at REAL NOT NULL,
            PRIMARY KEY (company_id, kind, entity_id)
        );
        CREATE INDEX attention_latest ON attention (company_id, log_id);
        INSERT INTO attention (company_id, kind, entity_id, log_id, at)
            SELECT l.company_id, l.kind, l.entity_id, l.id, l.at FROM sync_log l
            WHERE l.result='attention' AND NOT EXISTS (
                SELECT 1 FROM sync_log n WHERE n.company_id=l.company_id AND n.kind=l.kind
                AND n.entity_id=l.entity_id AND n.id>l.id);
        CREATE INDEX jobs_failed ON jobs (company_id, updated_at) WHERE state='failed';
        CREATE INDEX persons_pending ON persons (company_id, written_at)
            WHERE maileon_state='pending' AND deleted=0;
        """
    )


@migrations()
def m041_queued_bytes(db: Database) -> None:
    """Issue #23: how many bytes of changes a company has waiting, read from an index (the
    webhook receiver refuses more beyond COMPANY_QUEUE_LIMIT_MB)."""
    db.execute(
        "CREATE INDEX jobs_queued_bytes ON jobs (company_id, length(CAST(payload AS BLOB))) "
        "WHERE state IN ('pending','running')"
    )


@migrations()
def m050_deal_sends(db: Database) -> None:
    """Deal transactions in flight (issue 27): written before the call to Maileon, so a call
    whose answer never came (a timeout, a stop, a crash) is checked before any resend."""
    db.executescript(
        """
        CREATE TABLE deal_sends (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            event_id TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at REAL NOT NULL,
            PRIMARY KEY (company_id, event_id)
        );
        """
    )


@migrations()
def m060_doi_plus(db: Database) -> None:
    """F4 revised: "Ask for tracking consent (DOI+)" per company, off for every existing row."""
    db.execute("ALTER TABLE settings ADD COLUMN doi_plus INTEGER NOT NULL DEFAULT 0")


@migrations()
def m061_fail_cause(db: Database) -> None:
    """Why a job failed for good, when the cause can go away by itself: the Maileon key
    (`maileon_key`) or an outage (`outage:Maileon`, `outage:Pipedrive`). Such failures are
    retried once a valid key is saved or the service answers again."""
    db.execute("ALTER TABLE jobs ADD COLUMN fail_cause TEXT NOT NULL DEFAULT ''")


@migrations()
def m062_imported_deal_transactions(db: Database) -> None:
    """A deal transaction sent by the import of existing contacts says so in the panel."""
    db.execute("ALTER TABLE deal_transactions ADD COLUMN imported INTEGER NOT NULL DEFAULT 0")


@migrations()
def m070_persons_by_email(db: Database) -> None:
    """Removals and Maileon's unsubscribe events look persons up by address (case-insensitive):
    without an index each lookup scanned every person of every company."""
    db.execute("CREATE INDEX persons_email ON persons (company_id, lower(email))")


@migrations(transactional=False)
def m071_incremental_auto_vacuum(db: Database) -> None:
    """Pages freed by pruning and finished imports go back to the file system (the periodic
    prune runs an incremental vacuum, store/space.py) instead of the file only growing. The
    mode of an existing file changes only with a VACUUM: run once here, outside a transaction
    (on a large file it takes a while, once)."""
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("VACUUM")


@migrations()
def m080_engagement(db: Database) -> None:
    """F15: what Maileon's mailings did with a person. `engagement_events` holds one row per
    event under its natural key (a re-read of a report stores nothing twice); `engagement_writes`
    what was written to Pipedrive for which event (nothing written twice); `engagement_mailings`
    mailing names and types (immutable once sent); `engagement_settings` the switches and what
    the last read did. All go with the company (cascade) and events after RETENTION_DAYS."""
    db.executescript(
        """
        CREATE TABLE engagement_events (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            person_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            mailing_id TEXT NOT NULL DEFAULT '',
            at REAL NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            link TEXT NOT NULL DEFAULT '',
            bounce_type TEXT NOT NULL DEFAULT '',
            code TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            stored_at REAL NOT NULL,
            PRIMARY KEY (company_id, key)
        );
        CREATE INDEX engagement_events_person ON engagement_events (company_id, person_id, at);
        CREATE INDEX engagement_events_age ON engagement_events (stored_at);
        CREATE TABLE engagement_writes (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            person_id INTEGER NOT NULL,
            target TEXT NOT NULL,
            day TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (company_id, key)
        );
        CREATE INDEX engagement_writes_day ON engagement_writes (company_id, day, person_id);
        CREATE TABLE engagement_mailings (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            mailing_id TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            PRIMARY KEY (company_id, mailing_id)
        );
        CREATE TABLE engagement_settings (
            company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
            panel INTEGER NOT NULL DEFAULT 1,
            notes INTEGER NOT NULL DEFAULT 1,
            fields INTEGER NOT NULL DEFAULT 1,
            digest INTEGER NOT NULL DEFAULT 0,
            last_read_at REAL,
            last_read TEXT NOT NULL DEFAULT '',
            warning TEXT NOT NULL DEFAULT '',
            last_click_field TEXT NOT NULL DEFAULT '',
            bounced_field TEXT NOT NULL DEFAULT ''
        );
        """
    )


@migrations()
def m081_engagement_catch_up(db: Database) -> None:
    """F15: each company's events stored lately, read again by every engagement read so a
    Pipedrive write that failed, was over the day's budget or waited for its day to end (the
    digest) is made then (the writes are keyed: nothing twice)."""
    db.execute("CREATE INDEX engagement_events_stored ON engagement_events (company_id, stored_at)")


@migrations()
def m090_field_targets(db: Database) -> None:
    """The Maileon field each custom field slot writes (F16): a JSON list as long as
    `custom_fields`, "" meaning the field's default target (the same name), so settings saved
    before keep their behaviour unchanged."""
    db.execute("ALTER TABLE settings ADD COLUMN field_targets TEXT NOT NULL DEFAULT '[]'")


@migrations()
def m091_import_resend(db: Database) -> None:
    """An import run that re-sends the fields of the persons already synced (a changed field
    mapping, F16) and adds nobody."""
    db.execute("ALTER TABLE imports ADD COLUMN resend INTEGER NOT NULL DEFAULT 0")


@migrations()
def m110_due_companies(db: Database) -> None:
    """The companies that may have due work, so a lease walks those and never the idle tenants
    (issue 29): `due_at` is at most the company's earliest pending job's due time, kept so
    by triggers whenever a job becomes pending or its due time moves (intake, retries, "Try
    now", periodic runs), and made exact by the lease itself (`queue.lease`), which also drops
    the companies with nothing pending."""
    db.executescript(
        """
        CREATE TABLE due_companies (
            company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
            due_at REAL NOT NULL
        );
        CREATE INDEX due_companies_by_time ON due_companies (due_at);
        INSERT INTO due_companies (company_id, due_at)
            SELECT company_id, min(run_after) FROM jobs WHERE state='pending'
            GROUP BY company_id;
        CREATE TRIGGER jobs_pending_inserted AFTER INSERT ON jobs WHEN new.state='pending'
        BEGIN
            INSERT INTO due_companies (company_id, due_at) VALUES (new.company_id, new.run_after)
            ON CONFLICT (company_id) DO UPDATE SET due_at=min(due_at, excluded.due_at);
        END;
        CREATE TRIGGER jobs_pending_updated AFTER UPDATE OF state, run_after ON jobs
        WHEN new.state='pending'
        BEGIN
            INSERT INTO due_companies (company_id, due_at) VALUES (new.company_id, new.run_after)
            ON CONFLICT (company_id) DO UPDATE SET due_at=min(due_at, excluded.due_at);
        END;
        """
    )


@migrations()
def m111_company_checks(db: Database) -> None:
    """What the app checked in a company's accounts lately (its Maileon custom fields), and
    until when that holds, so a restart does not check every company again (issue 29)."""
    db.executescript(
        """
        CREATE TABLE company_checks (
            company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value TEXT NOT NULL,  -- JSON
            until REAL NOT NULL,  -- epoch seconds
            PRIMARY KEY (company_id, name)
        );
        """
    )


@migrations()
def m130_deal_sends_sent(db: Database) -> None:
    """A deal send Maileon took stays in `deal_sends` as `sent` with a digest of what was sent
    (pruned with the finished jobs), so the same change run again is not sent twice."""
    db.execute("ALTER TABLE deal_sends ADD COLUMN digest TEXT NOT NULL DEFAULT ''")


@migrations()
def m140_fewer_pages_per_webhook(db: Database) -> None:
    """A webhook's commit writes fewer pages (issue 29, intake: a commit's cost is mostly the
    pages it writes to the WAL). The triggers of m110_due_companies write `due_companies` only
    when a company's due time may go down: a job that becomes pending, or a pending job made
    due earlier ("Try now"). A coalescing webhook only moves its pending job's due time later
    (debounce), which keeps the lower bound true, and a company already due earlier keeps its
    row untouched. `jobs_due` goes: the next due time is read from `due_companies`
    (`queue.next_due_in`), and the queries by state alone use `jobs_company_due`."""
    db.executescript(
        """
        DROP INDEX jobs_due;
        DROP TRIGGER jobs_pending_inserted;
        DROP TRIGGER jobs_pending_updated;
        CREATE TRIGGER jobs_pending_inserted AFTER INSERT ON jobs WHEN new.state='pending'
        BEGIN
            INSERT INTO due_companies (company_id, due_at) VALUES (new.company_id, new.run_after)
            ON CONFLICT (company_id) DO UPDATE SET due_at=excluded.due_at
            WHERE excluded.due_at < due_companies.due_at;
        END;
        CREATE TRIGGER jobs_pending_updated AFTER UPDATE OF state, run_after ON jobs
        WHEN new.state='pending' AND (old.state IS NOT 'pending' OR new.run_after < old.run_after)
        BEGIN
            INSERT INTO due_companies (company_id, due_at) VALUES (new.company_id, new.run_after)
            ON CONFLICT (company_id) DO UPDATE SET due_at=excluded.due_at
            WHERE excluded.due_at < due_companies.due_at;
        END;
        """
    )
