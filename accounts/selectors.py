"""Reads of the audit log and API tokens."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent


def api_token_list() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("created_by").order_by("revoked_at", "-created_at")


# ----------------------------------------------------------------------------- settings: audit


def audit_event_list(
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events, newest first. A date `until` includes that whole day."""
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if since is not None:
        events = events.filter(at__gte=_moment(since, end_of_day=False))
    if until is not None:
        events = events.filter(at__lt=_moment(until, end_of_day=True))
    return events.order_by("-at", "-id")


def _moment(value: datetime | date, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    day = value + timedelta(days=1) if end_of_day else value
    return timezone.make_aware(datetime.combine(day, time.min))
