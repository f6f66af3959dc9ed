"""Simulated Maileon: the REST API 1.0 subset the app uses, outgoing webhooks, a control surface
and a small web UI, served on loopback.

    sim = MaileonSim(time_scale=0.01)
    server = ServerThread(sim.app).start()
    api_url = f"{server.url}/1.0"          # the app's MAILEON_API_URL

Layout: REST API under `/1.0` (HTTP Basic with an API key), control JSON under `/_sim/` (no auth,
exempt from fault injection), UI at `/`. Every API key belongs to an account; contacts, fields,
transaction types, transactions and webhooks are per account.

Behaviour follows the project's Maileon API reference (reference/maileon-api.md). Where
Maileon's behaviour is not documented (UNCONFIRMED there), the simulator makes these choices:

* Create contact (`POST /contacts/email/{email}`): new → 201 `<id>N</id>`; existing with
  `sync_mode=2` → 200 `<id>N</id>` and nothing changes; existing with `sync_mode=1` → 201.
  On an existing contact with `sync_mode=1` the permission given (or, pessimistically, the
  documented default 1 when none is given: UNCONFIRMED) replaces the contact's own, unless the
  contact has DOI/DOI+ and a lower one is asked (reference §2.1, §2.2). `PUT` without a
  permission leaves it. An `email` in the body that differs from the path → 400.
* Control: `POST /_sim/contacts` creates a contact as if it had been in the account before
  the app came (`email`, `permission` 1-6, optional `external_id`, `standard_fields`,
  `custom_fields`, `created_by` for the history).
* Unsubscribed addresses are kept on a suppression list (the contact itself is anonymized).
  Creating the address again is an explicit re-subscription only with `permission` > 1 or
  `doi=true`; otherwise the new contact is flagged unsubscribed (PERMISSION_STATUS=unsubscribed).
  Re-subscriptions are recorded in the contact's `history` ("resubscribed").
* Custom field values: booleans only `true`/`false` (JSON booleans or those strings; `1`/`0` → 400);
  JSON `null` → 400, `""` clears.
* Delete by email / external id: 200 even if nothing matched. Unsubscribe of an unknown
  email / external id → 404.
* Anonymized contacts are invisible to every REST read (by email, external id, lists, count).
* Synchronize (`POST /contacts`): invalid contacts without `ignore_invalid_contacts=true` → 400 with
  the report and nothing applied; otherwise 200 with the report (`success` false when any contact
  was invalid) and the valid ones applied. Unsubscribed contacts that are skipped are counted in
  `count_unsubscribed_contacts` only. Error code 21 = invalid/unknown custom field, 22 = unknown or
  read-only standard field (codes 21+ are undocumented; invented here).
* Custom field create with an existing name → 409.
* Transaction type create → 201 with the plain new id as text body (`text/plain`); duplicate name
  → 409. Attribute value checks: integer (int or integer string, 32 bit), double/float (number or
  numeric string), boolean (bool or "true"/"false"), string (string or number, ≤ 1000 chars;
  64000 with storeOnly), date `yyyy-mm-dd`, timestamp `yyyy-mm-dd hh:mm:ss`, json (anything);
  `null` counts as absent.
* `POST /transactions` with `ignore_invalid_transactions=false` and an invalid item → 400 with the
  JSON reports and nothing stored.
* Error bodies are XML `<error><message>…</message></error>` on every endpoint (also JSON ones).
* Outgoing webhooks: POST, 5 s timeout, retried twice after 5 s and 60 s (times time_scale) when the
  answer is not 2xx or the call fails (the real retry policy is undocumented: a guess). A `+` in a
  `standard_contact_field` URL parameter value is left unencoded (Maileon's quirk: receivers decode
  it as a space); `custom_value` literals are fully percent-encoded. Event fields: `timestamp`,
  `msg_id` (random for link/DOI events, null for API unsubscriptions), `method`/`source` (the
  unsubscription source or "link" for DOI), `mailing_id`, `reason`; others null.
* DOI mailings: every DOI key of the account (`/_sim/doi_keys`) is one DOI mailing;
  `GET /mailings/filter/types?types=doi` lists `<mailings><mailing><id>` (paged),
  `GET /mailings/{id}/settings/doi_key` answers `<doi_key>` (reference §5).
* Times are UTC (`yyyy-mm-dd hh:mm:ss`); the report filters `from_date`/`to_date` are epoch ms.
* `POST /transactions` with `import.contact` creates a missing contact (as documented; an
  address on the suppression list is created unsubscribed); with `contact` only, a missing
  contact is reported "contact not found", not queued.
* Tests can hold API calls in flight: `POST /_sim/hold {path, method?, count?}` holds requests to
  exactly that path until `POST /_sim/release`; `GET /_sim/hold` says how many are held.
"""

from sandbox.maileon.model import DEFAULT_KEY, XML_TYPE
from sandbox.maileon.sim import MaileonSim

__all__ = ["DEFAULT_KEY", "XML_TYPE", "MaileonSim"]
