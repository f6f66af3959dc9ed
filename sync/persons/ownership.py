"""Whose contact is it? The app deletes a Maileon contact only when it created it (spec F7,
F14): a contact that was in Maileon before the app wrote it (a website subscriber with DOI,
say) holds someone's consent record, which a deletion would destroy.

The app's own record (`persons.app_created`) says which contacts it found (kept without a
call) and which it created; before deleting one of those, or one it has no record of, the
contact's `createdByPipedrive` field in Maileon, which the app sets only on contacts it
creates, must say true.
"""

from __future__ import annotations

from clients.maileon import MaileonClient
from store.people import PersonState
from sync.engine.context import Context
from sync.persons.fields import CREATED_BY

KEPT = (
    "its Maileon contact was not created by the app, so it keeps its data and permission "
    "and is no longer updated"
)


async def created_by_app(ctx: Context, state: PersonState, email: str) -> bool:
    """Whether the app created the contact at `email` (the caller saves the state). A contact
    the app found is kept without asking; otherwise the contact's createdByPipedrive decides,
    also when the app's record says it created it: whether Maileon answers an ignored create
    (`sync_mode=2` on an existing address) with 200 or 201 is UNCONFIRMED, so a 201 alone does
    not prove the app made the contact. One read per deletion."""
    if state.app_created == 0:
        return False
    state.app_created = await created_flag(ctx.maileon(state.company_id), email)
    return bool(state.app_created)


async def created_flag(maileon: MaileonClient, email: str) -> int:
    """1 when the contact at `email` carries createdByPipedrive = true, else 0 (also when
    there is no contact: nothing there to delete)."""
    contact = await maileon.get_contact(email, custom_fields=(CREATED_BY,))
    if contact is None:
        return 0
    return int(str(contact["custom_fields"].get(CREATED_BY, "")).strip().lower() == "true")
