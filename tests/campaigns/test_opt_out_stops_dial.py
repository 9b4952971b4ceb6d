"""An opt-out said on one call stops the next campaign dial to that number (sandbox, HTTP)."""

from __future__ import annotations

import pytest

from calls.models import Call
from calls.post_call import post_call_plan
from campaigns.dispatch import dispatch_due
from campaigns.models import DialEntry, DialState
from campaigns.services import campaign_transition
from contacts.models import Contact, DoNotCallEntry
from tests.campaigns.test_dispatcher import fast_outcomes, make_campaign, revrag  # noqa: F401
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_opt_out_in_a_transcript_stops_the_next_campaign_dial(revrag, sandbox):  # noqa: F811
    zone = "UTC"
    said_no = Contact.objects.create(name="Said no", phone_e164="+14155550101", time_zone=zone)
    other = Contact.objects.create(name="Other", phone_e164="+14155550102", time_zone=zone)
    campaign = make_campaign(
        revrag, [said_no, other], window_start_hour=0, window_end_hour=24, calls_per_minute=600
    )
    # An earlier single call to the first contact, ended: the person asked not to be called.
    earlier = CallFactory(
        vendor_account=revrag,
        contact=said_no,
        state="ended",
        transcript=[{"speaker": "customer", "text": "Please don't call me again."}],
    )
    post_call_plan(call_id=earlier.pk)
    assert DoNotCallEntry.objects.filter(phone_e164=said_no.phone_e164, call_id=earlier.pk).exists()

    fast_outcomes(sandbox)
    campaign_transition(campaign_id=campaign.pk, action="launch")
    for _ in range(5):
        dispatch_due(campaign.pk)
    dialled = set(Call.objects.filter(campaign=campaign).values_list("to_number", flat=True))
    assert dialled == {other.phone_e164}
    assert DialEntry.objects.get(campaign=campaign, contact=said_no).state == DialState.SKIPPED_DNC
    # The vendor placed one call only: the other contact's.
    assert len(sandbox.state("revrag")["calls"]) == 1
