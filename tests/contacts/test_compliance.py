"""The calling policy's decisions with fixed clocks: hours by place, weekdays, holidays, caps."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from contacts.compliance import (
    ATTEMPTS_KEPT,
    NotAllowedNow,
    attempt_reserve,
    attempts_prune,
    cap_refusal,
    check_hours,
    compliance_policy,
    hours_rules,
    place_of,
    policy_restore_defaults,
)
from contacts.models import CallingHoursRule, CompliancePolicy, DialAttempt

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
MIAMI = "+13055550101"  # area code 305: Florida
MANHATTAN = "+12125550101"  # 212: New York
DALLAS = "+12145551234"  # 214: Texas
BATON_ROUGE = "+12255550101"  # 225: Louisiana
TOLL_FREE = "+18005550101"  # rings anywhere in the +1 area
LONDON = "+442071234567"


@pytest.fixture
def shipped(db):
    policy_restore_defaults()
    return hours_rules()


def refusal(number: str, at: datetime, rules, *, time_zone: str = "") -> NotAllowedNow | None:
    try:
        check_hours(number, time_zone=time_zone, at=at, rules=rules)
    except NotAllowedNow as exc:
        return exc
    return None


def test_it_finds_the_us_state_from_the_area_code():
    assert place_of(MIAMI).subdivision == "FL"
    assert place_of("+13052345678").subdivision == "FL"  # geocoded "Miami, FL"
    assert place_of(DALLAS).subdivision == "TX"  # geocoded "Texas"
    assert place_of(MANHATTAN).country == "US"
    assert place_of("+12025550101").subdivision == "DC"  # geocoded "Washington D.C."
    assert place_of("+14165550101").subdivision == "ON"  # Canada: "Ontario"
    assert place_of(LONDON).country == "GB"
    assert place_of(MIAMI).zones == ("America/New_York",)


def test_it_refuses_florida_after_20_naming_the_rule_and_the_next_allowed_time(shipped):
    at = datetime(2026, 12, 3, 20, 30, tzinfo=NEW_YORK)  # a Thursday
    refused = refusal(MIAMI, at, shipped)
    assert refused is not None
    assert refused.rule == "Outside calling hours for Florida: 8:00–20:00 local"
    assert refused.retry_at == datetime(2026, 12, 4, 8, 0, tzinfo=NEW_YORK)
    # The same minute in New York, under the federal 8:00–21:00, is allowed.
    assert refusal(MANHATTAN, at, shipped) is None
    assert refusal(MIAMI, at - timedelta(minutes=31), shipped) is None


def test_it_refuses_before_8_in_the_morning_local(shipped):
    refused = refusal(MANHATTAN, datetime(2026, 12, 3, 7, 59, tzinfo=NEW_YORK), shipped)
    assert refused.rule == "Outside calling hours for United States: 8:00–21:00 local"
    assert refused.retry_at == datetime(2026, 12, 3, 8, 0, tzinfo=NEW_YORK)


def test_it_uses_the_contacts_time_zone_over_the_numbers(shipped):
    at = datetime(2026, 12, 3, 19, 0, tzinfo=NEW_YORK)  # 19:00 in Miami, 16:00 in Los Angeles
    assert refusal(MIAMI, at, shipped) is None
    refused = refusal(MIAMI, at, shipped, time_zone="Asia/Tokyo")  # 9:00 next day there: fine
    assert refused is None
    refused = refusal(MIAMI, at, shipped, time_zone="Europe/Paris")  # 1:00 in Paris
    assert refused.rule == "Outside calling hours for Florida: 8:00–20:00 local"


def test_it_excludes_sundays_in_texas_and_says_when_calls_may_start(shipped):
    sunday_noon = datetime(2026, 12, 6, 12, 0, tzinfo=CHICAGO)
    refused = refusal(DALLAS, sunday_noon, shipped)
    assert refused.rule == "No calls on Sundays in Texas"
    assert refused.retry_at == datetime(2026, 12, 7, 9, 0, tzinfo=CHICAGO)


def test_it_skips_public_holidays_where_the_rule_says_so(shipped):
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=CHICAGO)
    refused = refusal(BATON_ROUGE, christmas, shipped)
    assert refused.rule == "No calls on public holidays in Louisiana (Christmas Day)"
    assert refused.retry_at == datetime(2026, 12, 26, 8, 0, tzinfo=CHICAGO)
    # Florida's rule does not skip holidays.
    assert refusal(MIAMI, datetime(2026, 12, 25, 10, 0, tzinfo=NEW_YORK), shipped) is None


def test_it_uses_a_state_holiday_from_the_holidays_package(db):
    policy_restore_defaults()
    CallingHoursRule.objects.filter(place="US-TX").update(skip_public_holidays=True)
    # Texas Independence Day (2 March) is a Texas holiday, not a federal one.
    at = datetime(2027, 3, 2, 10, 0, tzinfo=CHICAGO)
    assert "Texas Independence Day" in refusal(DALLAS, at, hours_rules()).rule
    CallingHoursRule.objects.filter(place="US").update(skip_public_holidays=True)
    assert refusal(MANHATTAN, datetime(2027, 3, 2, 10, 0, tzinfo=NEW_YORK), hours_rules()) is None


def test_it_needs_every_zone_of_a_number_that_spans_several(shipped):
    # 20:30 in New York is fine there, in Honolulu (15:30) and Guam (11:30 next day), but it is
    # 22:00 in St John's, Newfoundland, a zone the +1 toll-free range also reaches: it waits.
    at = datetime(2026, 12, 3, 20, 30, tzinfo=NEW_YORK)
    refused = refusal(TOLL_FREE, at, shipped)
    assert refused.rule == "Outside calling hours for United States: 8:00–21:00 local"
    later = refused.retry_at
    assert later is not None and later > at
    assert refusal(TOLL_FREE, later, shipped) is None


def test_it_falls_back_to_the_rule_for_everywhere(shipped):
    refused = refusal(
        LONDON, datetime(2026, 12, 3, 22, 0, tzinfo=ZoneInfo("Europe/London")), shipped
    )
    assert refused.rule == "Outside calling hours: 8:00–21:00 local"


def test_it_ships_the_defaults_on_first_use(db):
    CallingHoursRule.objects.all().delete()
    CompliancePolicy.objects.all().delete()
    policy = compliance_policy()
    assert (policy.max_attempts_per_day, policy.max_attempts_per_week) == (3, 7)
    florida = CallingHoursRule.objects.get(place="US-FL")
    assert (florida.start_minute, florida.end_minute) == (8 * 60, 20 * 60)


# ------------------------------------------------------------------------------ caps


def caps(day: int = 3, week: int = 7, gap: int = 0) -> CompliancePolicy:
    return CompliancePolicy(
        max_attempts_per_day=day, max_attempts_per_week=week, min_gap_minutes=gap
    )


def test_it_caps_attempts_per_24_hours_until_the_oldest_ages_out():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=NEW_YORK)
    attempts = [now - timedelta(hours=hours) for hours in (30, 20, 5, 1)]
    refused = cap_refusal(caps(), attempts, now)
    assert refused.rule == "Frequency cap: at most 3 attempts per 24 h"
    assert refused.retry_at == now - timedelta(hours=20) + timedelta(hours=24)
    assert cap_refusal(caps(), attempts[:3], now) is None


def test_it_caps_attempts_per_7_days_and_a_minimum_gap():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=NEW_YORK)
    attempts = [now - timedelta(days=days) for days in (6, 5, 4, 3, 2, 1.5)] + [
        now - timedelta(minutes=10)
    ]
    refused = cap_refusal(caps(day=0, gap=30), attempts, now)
    assert refused.rule == (
        "Frequency cap: at most 7 attempts per 7 days; "
        "Frequency cap: at least 30 min between attempts"
    )
    assert refused.retry_at == now - timedelta(days=6) + timedelta(days=7)
    assert cap_refusal(caps(day=0, week=0), attempts, now) is None


def test_it_reserves_attempts_per_number_across_sources(db):
    CompliancePolicy.objects.update_or_create(
        pk=1, defaults={"max_attempts_per_day": 2, "max_attempts_per_week": 7}
    )
    with transaction.atomic():
        attempt_reserve(phone_e164=MIAMI, source="single call")
    with transaction.atomic():
        attempt_reserve(phone_e164=MIAMI, source="campaign 4")
        attempt_reserve(phone_e164=MANHATTAN, source="campaign 4")  # another number: its own
    with pytest.raises(NotAllowedNow, match="at most 2 attempts per 24 h"), transaction.atomic():
        attempt_reserve(phone_e164=MIAMI, source="campaign 5")
    assert DialAttempt.objects.filter(phone_e164=MIAMI).count() == 2


def test_it_prunes_attempts_older_than_it_keeps(db):
    now = datetime(2026, 12, 3, 12, 0, tzinfo=NEW_YORK)
    old = DialAttempt.objects.create(phone_e164=MIAMI, at=now - ATTEMPTS_KEPT - timedelta(hours=1))
    recent = DialAttempt.objects.create(phone_e164=MIAMI, at=now - timedelta(days=8))
    assert attempts_prune(now=now) == 1
    assert list(DialAttempt.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not DialAttempt.objects.filter(pk=old.pk).exists()
