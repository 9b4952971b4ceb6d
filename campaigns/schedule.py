"""Pure rules of a campaign: calling windows in local time, variable templates, retry rules.

No database access here: the services and selectors feed these functions plain values.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from calls import templating
from calls.templating import TemplateError
from campaigns.models import Campaign

# Contact fields a variables template may name (the same as follow-up messages); nothing else
# of the project is reachable.
VARIABLE_FIELDS = templating.TemplateFields(
    fields={"contact": templating.CONTACT_FIELDS},
    open_objects={"contact": ("metadata",)},
    what="a contact field",
)


def zone(name: str, default: str) -> ZoneInfo:
    """The contact's zone, or the campaign default when it has none (or an unknown one)."""
    for candidate in (name, default, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def is_time_zone(name: str) -> bool:
    return name in available_timezones()


def in_window(campaign: Campaign, tz_name: str, at: datetime) -> bool:
    """Whether `at` falls in the campaign's calling window in the time zone `tz_name`."""
    local = at.astimezone(zone(tz_name, campaign.default_time_zone))
    if local.weekday() not in set(campaign.window_days or []):
        return False
    return campaign.window_start_hour <= local.hour < campaign.window_end_hour


def _window_on(day: date, campaign: Campaign, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(campaign.window_start_hour), tzinfo=tz)
    if campaign.window_end_hour >= 24:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    else:
        end = datetime.combine(day, time(campaign.window_end_hour), tzinfo=tz)
    return start, end


def has_window(campaign: Campaign, tz_name: str, start: datetime, end: datetime | None) -> bool:
    """Whether any calling window in `tz_name` overlaps [start, end) (open-ended: any at all)."""
    days = set(campaign.window_days or [])
    if not days or campaign.window_start_hour >= campaign.window_end_hour:
        return False
    if end is None:
        return True
    if end <= start:
        return False
    tz = zone(tz_name, campaign.default_time_zone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        if day.weekday() in days:
            window_start, window_end = _window_on(day, campaign, tz)
            if window_start < end and start < window_end:
                return True
        day += timedelta(days=1)
    return False


def check_template(template: Any) -> dict[str, Any]:
    """The variables template as saved: an object whose placeholders name contact fields only."""
    if not isinstance(template, dict) or not all(isinstance(key, str) for key in template):
        raise TemplateError("The variables template must be a JSON object with text keys.")
    for key, value in template.items():
        if isinstance(value, str):
            try:
                templating.check_template(value, VARIABLE_FIELDS)
            except TemplateError as exc:
                raise TemplateError(f"{key}: {exc}") from None
    return template


def render_variables(template: dict[str, Any], contact: Any) -> dict[str, Any]:
    """Fill each placeholder with the contact's field (missing fields become empty text)."""
    context = {"contact": templating.contact_context(contact)}
    return {
        key: templating.render(value, context) if isinstance(value, str) else value
        for key, value in template.items()
    }


# Outcomes a campaign never retries: a conversation that ended, a person who asked not to be
# called again, a number the vendor refused.
NEVER_RETRIED = ("completed", "opted_out", "failed_number")


def common_retry_rules(rules: Any) -> dict[str, Any]:
    """Retry rules keyed by common outcome. A rule under an older outcome name (stored before
    the common outcomes, or sent by an older API client) applies to the common outcomes that
    name became (calls.outcomes.OLD_NAMES); a rule given under a common name wins over one
    from an older name, and among older names the first wins."""
    from calls.models import CommonOutcome
    from calls.outcomes import translate_outcome_names

    if not isinstance(rules, dict):
        return {}
    common = {name: rule for name, rule in rules.items() if name in CommonOutcome.values}
    for name, rule in rules.items():
        if name in CommonOutcome.values:
            continue
        for new in translate_outcome_names([name]):
            if new in CommonOutcome.values and new not in NEVER_RETRIED:
                common.setdefault(new, rule)
    return common


def check_retry_rules(rules: Any) -> dict[str, Any]:
    """{outcome: {"retry_after_minutes": >= 1, "max_attempts": 1..10} | null}, returned keyed
    by common outcome (older names translated: see common_retry_rules)."""
    from calls.models import CallOutcome, CommonOutcome

    if not isinstance(rules, dict):
        raise ValueError("Retry rules must be a JSON object keyed by outcome.")
    known = set(CommonOutcome.values) - set(NEVER_RETRIED)
    for outcome, rule in rules.items():
        if outcome in NEVER_RETRIED and rule is not None:
            raise ValueError(f"{outcome}: callops never retries this outcome.")
        if outcome not in known | set(CallOutcome.values) | set(NEVER_RETRIED):
            raise ValueError(f"{outcome} is not a call outcome ({', '.join(sorted(known))}).")
        if rule is None:
            continue
        if not isinstance(rule, dict) or set(rule) != {"retry_after_minutes", "max_attempts"}:
            raise ValueError(
                f"{outcome}: give retry_after_minutes and max_attempts, or null for no retry."
            )
        minutes, attempts = rule["retry_after_minutes"], rule["max_attempts"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 10080:
            raise ValueError(f"{outcome}: retry_after_minutes must be a whole number 1–10080.")
        if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 10:
            raise ValueError(f"{outcome}: max_attempts must be a whole number 1–10.")
    return common_retry_rules(rules)


def retry_rule(campaign: Campaign, outcome: str) -> dict[str, int] | None:
    """The rule for a call's common outcome, if the campaign retries it."""
    if outcome in NEVER_RETRIED:
        return None
    rule = common_retry_rules(campaign.retry_rules or {}).get(outcome)
    return rule if isinstance(rule, dict) else None
