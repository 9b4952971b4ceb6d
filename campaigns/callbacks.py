"""A paced campaign's callbacks: its dispatcher dials the due ones first, on its pace slots.

A contact who asked to be called back at a time has a Callback (calls/callbacks.py) that names
the campaign. While the campaign runs, each dispatcher run gives its first free slots to the
callbacks that are due, then to dial entries; the calls go through `call_create` like every
other (calling hours, frequency caps, do-not-call). The campaign's `callback_agent` says who
calls back: the agent the contact spoke to, or the campaign's own agent. A campaign completes
when its dial entries are done; callbacks booked after that are dialled by the beat job
(calls/callback_dial.py), a paused or stopped campaign's by nobody.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from calls.callback_dial import callback_dial, due_callbacks
from campaigns.models import CallbackAgent, Campaign

if TYPE_CHECKING:
    from campaigns.dispatch import DispatchResult


def dial_due_callbacks(
    campaign: Campaign, slots: list[datetime], result: DispatchResult, *, now: datetime
) -> None:
    """Write the calls of the campaign's due callbacks on its next free slots."""
    free = len(slots) - len(result.started)
    if free <= 0:
        return
    any_agent = campaign.callback_agent == CallbackAgent.ANY
    for callback_id in due_callbacks(campaign_id=campaign.pk, now=now, limit=free):
        call = callback_dial(
            callback_id=callback_id,
            vendor_account=campaign.vendor_account if any_agent else None,
            agent=campaign.agent if any_agent else None,
            now=now,
        )
        if call is not None:
            result.slots.append(slots[len(result.started)])
            result.started.append(call.pk)
            result.callbacks += 1
