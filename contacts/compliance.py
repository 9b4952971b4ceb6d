"""The calling policy every dial path asks: may this number be called now, and if not, when.

Two checks, both named in what they answer ("Outside calling hours for Florida: 8:00–20:00
local"):

- calling hours: the organisation's rules (contacts.models.CallingHoursRule) in the recipient's
  local time, on top of a campaign's own window. The rule is the most specific one for the
  number's place: its US state (from the area code, with phonenumbers' geocoding data), else its
  country, else the rule for everywhere. Local time is the contact's time zone, else the
  number's; a number spanning several zones (toll-free) must be inside the hours in each.
- frequency caps: attempts per number over 24 h and 7 days and a minimum gap, across every
  campaign, vendor and single call. `attempt_reserve` records the attempt under a lock per
  number, in the caller's short transaction, before any vendor is asked: two workers racing
  for one number see each other's attempt.

`hours_refusal` and `next_open` are pure (rules and a clock in, an answer out); the rest reads
the policy from the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

from contacts.compliance_defaults import (
    DEFAULT_MAX_ATTEMPTS_PER_DAY,
    DEFAULT_MAX_ATTEMPTS_PER_WEEK,
    DEFAULT_MIN_GAP_MINUTES,
    DEFAULT_RULES,
)
from contacts.models import CallingHoursRule, CompliancePolicy, DialAttempt

WEEKDAY_NAMES = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)
# How far ahead the next allowed moment is looked for; beyond it a dial is retried a day later.
LOOK_AHEAD_DAYS = 14
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


class NotAllowedNow(Exception):
    """A dial the policy refuses now; `rule` names why, `retry_at` is the next allowed moment
    (None when none is known within LOOK_AHEAD_DAYS)."""

    def __init__(self, rule: str, retry_at: datetime | None) -> None:
        super().__init__(rule)
        self.rule = rule
        self.retry_at = retry_at


class OutsideHours(NotAllowedNow):
    """Refused by the calling hours (not by a cap): the same for every number of the place."""


# ------------------------------------------------------------------------------ places


@dataclass(frozen=True, slots=True)
class Place:
    """Where a number rings: ISO country, subdivision ("FL", or ""), and its time zones."""

    country: str
    subdivision: str
    zones: tuple[str, ...]

    @property
    def rule_keys(self) -> tuple[str, ...]:
        """Rule places from the most specific to the least."""
        keys = [f"{self.country}-{self.subdivision}"] if self.subdivision else []
        return (*keys, self.country, "")


def place_of(phone_e164: str, *, time_zone: str = "") -> Place:
    """The place of an E.164 number; `time_zone` (the contact's) wins over the number's."""
    country, subdivision, number_zones = _number_place(phone_e164)
    zones = (time_zone,) if time_zone and _zone(time_zone) is not None else number_zones
    return Place(country=country, subdivision=subdivision, zones=zones)


@lru_cache(maxsize=65536)
def _number_place(phone_e164: str) -> tuple[str, str, tuple[str, ...]]:
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return "", "", (settings.TIME_ZONE,)
    country = phonenumbers.region_code_for_number(number) or ""
    if country in ("ZZ", "001"):
        country = ""
    zones = tuple(
        name
        for name in phone_timezone.time_zones_for_number(number)
        if name != phone_timezone.UNKNOWN_TIMEZONE and _zone(name) is not None
    )
    description = geocoder.description_for_number(number, "en") if country else ""
    return country, _subdivision(country, description), zones or (settings.TIME_ZONE,)


def _subdivision(country: str, description: str) -> str:
    """The subdivision code from phonenumbers' description: "Miami, FL" or "Florida" → "FL"."""
    known = _subdivisions_of(country)
    if not description or not known:
        return ""
    tail = description.rsplit(",", 1)[-1].strip()
    if tail in known:
        return tail
    return _subdivision_names_of(country).get(description.strip().lower(), "")


@lru_cache(maxsize=256)
def _subdivisions_of(country: str) -> frozenset[str]:
    entity = _holiday_class(country)
    return frozenset(getattr(entity, "subdivisions", ()) or ())


# phonenumbers' names the holidays package spells otherwise.
_GEOCODER_NAMES = {"US": {"washington d.c.": "DC"}}


@lru_cache(maxsize=256)
def _subdivision_names_of(country: str) -> dict[str, str]:
    entity = _holiday_class(country)
    aliases = getattr(entity, "subdivisions_aliases", None) or {}
    names = {name.lower(): code for name, code in aliases.items()}
    return {**names, **_GEOCODER_NAMES.get(country, {})}


def _holiday_class(country: str) -> Any:
    try:
        return holidays.country_holidays(country).__class__
    except NotImplementedError:
        return None


@lru_cache(maxsize=1024)
def _holidays_of(country: str, subdivision: str, year: int) -> Mapping[date, str]:
    if not country:
        return {}
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError:
        return {}
    except (KeyError, ValueError):  # a subdivision the package does not know: the country's
        return _holidays_of(country, "", year)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# ------------------------------------------------------------------------------ hours


@dataclass(frozen=True, slots=True)
class HoursRule:
    place: str
    label: str
    start_minute: int
    end_minute: int
    excluded_weekdays: frozenset[int]
    skip_public_holidays: bool

    @property
    def hours_text(self) -> str:
        return f"{minutes_text(self.start_minute)}–{minutes_text(self.end_minute)}"

    def where(self) -> str:
        return f" for {self.label or self.place}" if self.place else ""


def minutes_text(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def rule_for(rules: Mapping[str, HoursRule], place: Place) -> HoursRule | None:
    for key in place.rule_keys:
        if key in rules:
            return rules[key]
    return None


def _closed_reason(rule: HoursRule, place: Place, day: date) -> str:
    """Why `day` has no calling hours under `rule` ("" when it has)."""
    where = rule.where().replace(" for ", " in ", 1)
    if day.weekday() in rule.excluded_weekdays:
        return f"No calls on {WEEKDAY_NAMES[day.weekday()]}{where}"
    if rule.skip_public_holidays:
        name = _holidays_of(place.country, place.subdivision, day.year).get(day)
        if name:
            return f"No calls on public holidays{where} ({name})"
    return ""


def _window(rule: HoursRule, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's calling hours as wall-clock times (a day when clocks change keeps them)."""
    midnight = datetime.combine(day, clock_time(0), tzinfo=tz)
    start = midnight.replace(hour=rule.start_minute // 60, minute=rule.start_minute % 60)
    if rule.end_minute >= 24 * 60:
        end = datetime.combine(day + timedelta(days=1), clock_time(0), tzinfo=tz)
    else:
        end = midnight.replace(hour=rule.end_minute // 60, minute=rule.end_minute % 60)
    return start, end


def _refusal_in_zone(rule: HoursRule, place: Place, tz: ZoneInfo, at: datetime) -> str:
    local = at.astimezone(tz)
    closed = _closed_reason(rule, place, local.date())
    if closed:
        return closed
    start, end = _window(rule, local.date(), tz)
    if start <= local < end:
        return ""
    return f"Outside calling hours{rule.where()}: {rule.hours_text} local"


def _next_open_in_zone(
    rule: HoursRule, place: Place, tz: ZoneInfo, after: datetime
) -> datetime | None:
    local_day = after.astimezone(tz).date()
    for offset in range(LOOK_AHEAD_DAYS + 1):
        day = local_day + timedelta(days=offset)
        if _closed_reason(rule, place, day):
            continue
        start, end = _window(rule, day, tz)
        candidate = max(start, after)
        if candidate < end:
            return candidate
    return None


def hours_refusal(rules: Mapping[str, HoursRule], place: Place, at: datetime) -> str:
    """The rule that forbids calling `place` at `at`, as people read it; "" when allowed."""
    rule = rule_for(rules, place)
    if rule is None:
        return ""
    for name in place.zones:
        reason = _refusal_in_zone(rule, place, ZoneInfo(name), at)
        if reason:
            return reason
    return ""


def next_open(rules: Mapping[str, HoursRule], place: Place, after: datetime) -> datetime | None:
    """The first moment from `after` at which calling `place` is allowed in each of its zones."""
    rule = rule_for(rules, place)
    if rule is None:
        return after
    moment = after
    for _round in range(4 * LOOK_AHEAD_DAYS):
        moved = False
        for name in place.zones:
            tz = ZoneInfo(name)
            if _refusal_in_zone(rule, place, tz, moment):
                found = _next_open_in_zone(rule, place, tz, moment)
                if found is None or found - after > timedelta(days=LOOK_AHEAD_DAYS):
                    return None
                moment, moved = found, True
        if not moved:
            return moment
    return None


def _hours_rule(values: Mapping[str, Any]) -> HoursRule:
    return HoursRule(
        place=values["place"],
        label=values["label"],
        start_minute=values["start_minute"],
        end_minute=values["end_minute"],
        excluded_weekdays=frozenset(values["excluded_weekdays"] or ()),
        skip_public_holidays=values["skip_public_holidays"],
    )


def shipped_hours_rules() -> dict[str, HoursRule]:
    """The rules callops ships (compliance_defaults), whatever the database holds."""
    return {rule["place"]: _hours_rule(rule) for rule in DEFAULT_RULES}


def hours_rules() -> dict[str, HoursRule]:
    """The organisation's rules by place (the shipped ones until an admin edits them)."""
    compliance_policy()
    fields = (
        "place",
        "label",
        "start_minute",
        "end_minute",
        "excluded_weekdays",
        "skip_public_holidays",
    )
    return {
        values["place"]: _hours_rule(values) for values in CallingHoursRule.objects.values(*fields)
    }


def check_hours(
    phone_e164: str,
    *,
    time_zone: str = "",
    at: datetime | None = None,
    rules: Mapping[str, HoursRule] | None = None,
) -> None:
    """Raises NotAllowedNow naming the rule when `phone_e164` may not be called at `at`."""
    at = at or timezone.now()
    rules = hours_rules() if rules is None else rules
    place = place_of(phone_e164, time_zone=time_zone)
    reason = hours_refusal(rules, place, at)
    if reason:
        raise OutsideHours(reason, next_open(rules, place, at))


def hours_waits(
    numbers: Iterable[tuple[str, str]], *, at: datetime, rules: Mapping[str, HoursRule]
) -> dict[tuple[str, str], OutsideHours]:
    """For (number, time zone) pairs, the refusal of each one the hours forbid at `at`."""
    waits: dict[tuple[str, str], OutsideHours] = {}
    for phone_e164, time_zone in numbers:
        place = place_of(phone_e164, time_zone=time_zone)
        reason = hours_refusal(rules, place, at)
        if reason:
            waits[phone_e164, time_zone] = OutsideHours(reason, next_open(rules, place, at))
    return waits


# ------------------------------------------------------------------------------ policy


def compliance_policy() -> CompliancePolicy:
    """The policy row, created with the shipped caps and hours on first use."""
    policy = CompliancePolicy.objects.filter(pk=1).first()
    if policy is not None:
        return policy
    with transaction.atomic():
        policy, created = CompliancePolicy.objects.get_or_create(
            pk=1,
            defaults={
                "max_attempts_per_day": DEFAULT_MAX_ATTEMPTS_PER_DAY,
                "max_attempts_per_week": DEFAULT_MAX_ATTEMPTS_PER_WEEK,
                "min_gap_minutes": DEFAULT_MIN_GAP_MINUTES,
            },
        )
        if created and not CallingHoursRule.objects.exists():
            CallingHoursRule.objects.bulk_create(CallingHoursRule(**rule) for rule in DEFAULT_RULES)
    return policy


def policy_restore_defaults() -> None:
    """Put the shipped caps and hours back (the settings page's button)."""
    with transaction.atomic():
        policy = compliance_policy()
        policy.max_attempts_per_day = DEFAULT_MAX_ATTEMPTS_PER_DAY
        policy.max_attempts_per_week = DEFAULT_MAX_ATTEMPTS_PER_WEEK
        policy.min_gap_minutes = DEFAULT_MIN_GAP_MINUTES
        policy.save()
        CallingHoursRule.objects.all().delete()
        CallingHoursRule.objects.bulk_create(CallingHoursRule(**rule) for rule in DEFAULT_RULES)


def policy_save(
    *,
    max_attempts_per_day: int,
    max_attempts_per_week: int,
    min_gap_minutes: int,
    rules: Iterable[dict[str, Any]],
    user: Any = None,
) -> None:
    """Replace the caps and the hours rules at once (rules: CallingHoursRule field values)."""
    with transaction.atomic():
        policy = compliance_policy()
        policy.max_attempts_per_day = max_attempts_per_day
        policy.max_attempts_per_week = max_attempts_per_week
        policy.min_gap_minutes = min_gap_minutes
        policy.updated_by = user if getattr(user, "pk", None) else None
        policy.save()
        CallingHoursRule.objects.all().delete()
        CallingHoursRule.objects.bulk_create(CallingHoursRule(**rule) for rule in rules)


# ------------------------------------------------------------------------------ caps

# A namespace for this module's advisory locks (E.164 digits fit in 50 bits).
_LOCK_NAMESPACE = 0x0C0 << 52
LOCK_WAIT_SECONDS = 1.0


def _lock_number(phone_e164: str) -> bool:
    """Take the number's lock for the rest of the transaction; False if another transaction
    held it for LOCK_WAIT_SECONDS.

    A PostgreSQL advisory lock keyed by the number's digits: no row has to exist first. It is
    tried, not waited on, so a dispatcher holding several numbers and another holding them in
    another order give up instead of deadlocking. SQLite needs none: its IMMEDIATE
    transactions (settings.py) already let one writer at a time in.
    """
    if connection.vendor != "postgresql":
        return True
    key = _LOCK_NAMESPACE | int("".join(ch for ch in phone_e164 if ch.isdigit()) or "0")
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
            if cursor.fetchone()[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def attempt_reserve(*, phone_e164: str, source: str, at: datetime | None = None) -> DialAttempt:
    """Record an attempt to call the number, or raise NotAllowedNow naming the cap reached.

    Call inside the transaction that writes the call: the lock and the new row are both
    released on its commit, before any vendor is asked.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("attempt_reserve must run inside the transaction writing the call")
    at = at or timezone.now()
    if not _lock_number(phone_e164):
        raise NotAllowedNow(
            "Another call to this number is being placed right now", at + timedelta(seconds=30)
        )
    refusal = cap_refusal(compliance_policy(), _recent_attempts(phone_e164, at), at)
    if refusal is not None:
        raise refusal
    return DialAttempt.objects.create(phone_e164=phone_e164, at=at, source=source[:80])


# Attempts older than the longest cap window are not needed to decide; kept a while for people
# who want to see them, then pruned by a beat job.
ATTEMPTS_KEPT = timedelta(days=35)


def attempts_prune(*, now: datetime | None = None) -> int:
    """Delete attempts older than ATTEMPTS_KEPT; how many."""
    before = (now or timezone.now()) - ATTEMPTS_KEPT
    deleted, _by_model = DialAttempt.objects.filter(at__lt=before).delete()
    return deleted


def attempt_link(attempt: DialAttempt, call_id: int) -> None:
    DialAttempt.objects.filter(pk=attempt.pk).update(call_id=call_id)


def _recent_attempts(phone_e164: str, at: datetime) -> list[datetime]:
    return sorted(
        DialAttempt.objects.filter(phone_e164=phone_e164, at__gt=at - WEEK).values_list(
            "at", flat=True
        )
    )


def cap_refusal(
    policy: CompliancePolicy, attempts: list[datetime], at: datetime
) -> NotAllowedNow | None:
    """Which cap one more attempt at `at` would break, given the earlier ones (sorted)."""
    refusals: list[tuple[datetime, str]] = []
    for limit, span, text in (
        (policy.max_attempts_per_day, DAY, "24 h"),
        (policy.max_attempts_per_week, WEEK, "7 days"),
    ):
        within = [moment for moment in attempts if moment > at - span]
        if limit and len(within) >= limit:
            # Allowed again once enough of these have aged out to leave room for one more.
            free_at = within[len(within) - limit] + span
            noun = "attempt" if limit == 1 else "attempts"
            refusals.append((free_at, f"Frequency cap: at most {limit} {noun} per {text}"))
    gap = timedelta(minutes=policy.min_gap_minutes)
    if gap and attempts and attempts[-1] > at - gap:
        minutes = policy.min_gap_minutes
        refusals.append(
            (attempts[-1] + gap, f"Frequency cap: at least {minutes} min between attempts")
        )
    if not refusals:
        return None
    retry_at = max(moment for moment, _text in refusals)
    return NotAllowedNow("; ".join(text for _moment, text in refusals), retry_at)
