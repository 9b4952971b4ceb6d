"""The governor's headroom across several vendor accounts (a campaign's arms), and a call moved
from one account to another counted against the new account's limit only."""

from __future__ import annotations

import pytest

from calls import governor
from calls.models import CallState
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def test_it_sums_the_free_slots_of_each_account_and_names_the_full_ones(make_account, settings):
    settings.CALLOPS_MAX_LIVE_CALLS = 0
    full, roomy, unlimited = (make_account(kind) for kind in ("revrag", "voice_platform", "revrag"))
    full.max_live_calls, roomy.max_live_calls = 1, 3
    full.save()
    roomy.save()
    CallFactory(vendor_account=full, state=CallState.RUNNING)
    CallFactory(vendor_account=roomy, state=CallState.QUEUED)
    CallFactory(vendor_account=roomy, state=CallState.ENDED)  # not live

    assert governor.headroom_across([full, roomy]) == (2, {full.pk})
    assert governor.headroom_across([full, full]) == (0, {full.pk})
    # An account without a limit of its own: no limit applies, unless the total's.
    assert governor.headroom_across([full, unlimited]) == (None, {full.pk})
    settings.CALLOPS_MAX_LIVE_CALLS = 3
    assert governor.headroom_across([full, unlimited]) == (1, {full.pk})
    assert governor.headroom_across([roomy]) == (1, set())  # 2 free, 1 under the total


def test_it_lets_a_live_call_move_to_an_account_with_room_whatever_the_total(
    make_account, settings
):
    first, second = make_account("revrag"), make_account("voice_platform")
    second.max_live_calls = 2
    second.save()
    CallFactory.create_batch(2, vendor_account=first, state=CallState.PENDING)
    settings.CALLOPS_MAX_LIVE_CALLS = 2

    assert governor.refusal_for_new_call(second) is not None  # a new call: over the total
    assert governor.refusal_for_new_call(second, moving=True) is None  # one of those two moving
    CallFactory.create_batch(2, vendor_account=second, state=CallState.RUNNING)
    assert "its limit" in governor.refusal_for_new_call(second, moving=True)
