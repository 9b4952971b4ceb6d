"""Reads for alerts: what is open now, what happened before, the rules."""

from __future__ import annotations

from django.db.models import QuerySet

from dashboard.models import Alert, AlertRule, AlertSeverity

_SEVERITY_ORDER = {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}


def open_alerts() -> list[Alert]:
    """Open alerts, the most severe first, then the newest."""
    alerts = Alert.objects.filter(resolved_at=None).select_related(
        "rule", "rule__vendor_account", "rule__campaign", "acknowledged_by"
    )
    return sorted(
        alerts.order_by("-opened_at", "-id"),
        key=lambda alert: _SEVERITY_ORDER.get(alert.rule.severity, 3),
    )


def alert_history() -> QuerySet[Alert]:
    return (
        Alert.objects.exclude(resolved_at=None)
        .select_related("rule", "acknowledged_by")
        .order_by("-opened_at", "-id")
    )


def alert_rules() -> QuerySet[AlertRule]:
    return AlertRule.objects.select_related("vendor_account", "campaign").order_by("name", "id")


def alert_rule_get(*, pk: int) -> AlertRule:
    return AlertRule.objects.select_related("vendor_account", "campaign").get(pk=pk)
