"""Upgrading a database from before the common outcomes: its calls get theirs, its stored
rules are rewritten in them, and the analytics summary starts over."""

from __future__ import annotations

import pytest

from tests.utils import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    yield
    migrate_to_latest()


BEFORE = [
    ("calls", "0010_webhook_tally_and_account_index"),
    ("campaigns", "0004_audience_list_and_import"),
    ("analytics", "0001_initial"),
]
AFTER = [
    ("calls", "0013_common_outcome_index_and_rules"),
    ("campaigns", "0005_retry_rules_in_common_outcomes"),
    ("analytics", "0002_summary_common_outcome"),
]


def test_it_gives_stored_calls_and_rules_the_common_outcomes():
    old = migrate_to(BEFORE)
    account = old.get_model("vendors", "VendorAccount").objects.create(
        kind="revrag", name="Old Revrag", base_url="http://127.0.0.1:9/revrag"
    )
    call_model = old.get_model("calls", "Call")
    ended = {"vendor_account": account, "to_number": "+14155550100", "state": "ended"}
    declined = call_model.objects.create(
        **ended, outcome="rejected", vendor_outcome="USER_REJECTED"
    )
    callback = call_model.objects.create(
        **ended,
        outcome="completed",
        vendor_outcome="AGENT_HANGUP",
        extracted_variables={"callback_requested": True},
    )
    live = call_model.objects.create(**{**ended, "state": "running"})
    old.get_model("calls", "PostCallRule").objects.create(
        name="Missed calls", vendor_account=account, outcomes=["not_picked", "voicemail"]
    )
    agent = old.get_model("calls", "Agent").objects.create(
        vendor_account=account, vendor_agent_id="a-1", name="Ava"
    )
    old.get_model("campaigns", "Campaign").objects.create(
        name="Renewals",
        vendor_account=account,
        agent=agent,
        retry_rules={"not_picked": {"retry_after_minutes": 60, "max_attempts": 2}},
    )
    old.get_model("analytics", "SummaryState").objects.update_or_create(
        pk=1, defaults={"time_zone": "UTC"}
    )

    new = migrate_to(AFTER)
    outcomes = dict(new.get_model("calls", "Call").objects.values_list("pk", "common_outcome"))
    assert outcomes == {declined.pk: "declined", callback.pk: "callback_requested", live.pk: ""}
    assert new.get_model("calls", "PostCallRule").objects.get().outcomes == [
        "no_answer",
        "voicemail",
    ]
    assert new.get_model("campaigns", "Campaign").objects.get().retry_rules == {
        "no_answer": {"retry_after_minutes": 60, "max_attempts": 2}
    }
    # Summed without the common outcome: rebuilt by the next refresh.
    assert new.get_model("analytics", "SummaryState").objects.get(pk=1).time_zone == ""
