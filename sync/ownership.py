"""Whose contact is it? The app deletes a Maileon contact only when it created it (spec F7,
F14): a contact that was in Maileon before the app wrote it (a website subscriber with DOI,
say) holds someone's consent record, which a deletion would destroy.

The app's own record (`persons.app_created`) answers when it knows; otherwise (contacts from
before the record, an import batch that mixed new and existing contacts) the contact's
`createdByPipedrive` field in Maileon does, which the app sets only on contacts it creates.
"""

from __future__ import annotations

from clients.maileon import MaileonClient
from store.people import PersonState
from sync.context import Context
from sync.fields import CREATED_BY

KEPT = (
    "its Maileon contact was not created by the app, so it keeps its data and permission "
    "and is no longer updated"
)


async def created_by_app(ctx: Context, state: PersonState, email: str) -> bool:
    """Whether the app created the contact at `email`; an unknown answer is asked from
    Maileon and remembered on the state (the caller saves it)."""
    if state.app_created is None:
        state.app_created = await created_flag(ctx.maileon(state.company_id), email)
    return bool(state.app_created)


async def created_flag(maileon: MaileonClient, email: str) -> int:
    """1 when the contact at `email` carries createdByPipedrive = true, else 0 (also when
    there is no contact: nothing there to delete)."""
    contact = await maileon.get_contact(email, custom_fields=(CREATED_BY,))
    if contact is None:
        return 0
    return int(str(contact["custom_fields"].get(CREATED_BY, "")).strip().lower() == "true")
