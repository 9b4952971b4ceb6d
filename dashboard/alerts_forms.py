"""The alert rule form (admins). Everything it accepts, the alerts page can show."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from campaigns.models import Campaign
from dashboard.alerts_metrics import METRICS, clear_threshold_problem, default_clear_threshold
from dashboard.alerts_services import RULE_FIELDS, email_recipients
from dashboard.models import AlertRule
from vendors.models import VendorAccount

MAX_LOOKBACK_MINUTES = 7 * 24 * 60


class AlertRuleForm(forms.ModelForm):
    threshold = forms.DecimalField(min_value=Decimal(0), max_digits=12, decimal_places=2)
    clear_threshold = forms.DecimalField(
        label="Clears at",
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        help_text="Where the metric must get back to before the alert resolves. Empty: 20% of "
        "the threshold (at least 1) on the healthy side.",
    )
    lookback_minutes = forms.IntegerField(
        label="Lookback window (minutes)", min_value=1, max_value=MAX_LOOKBACK_MINUTES
    )
    min_calls = forms.IntegerField(
        label="Judge rates on at least (calls)", min_value=1, max_value=100_000
    )
    renotify_minutes = forms.IntegerField(
        label="Remind at most every (minutes)", min_value=1, max_value=MAX_LOOKBACK_MINUTES
    )
    email_to = forms.CharField(
        label="Email to",
        required=False,
        max_length=500,
        help_text="Addresses separated by commas.",
    )
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"], message="Use an http(s) URL.")],
        help_text="Signed with HMAC-SHA256 (Standard Webhooks headers). The signing secret is "
        "shown once, when the URL is first saved.",
    )
    vendor_account = forms.ModelChoiceField(
        queryset=VendorAccount.objects.order_by("name"), required=False, empty_label="Any"
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"), required=False, empty_label="Any"
    )

    class Meta:
        model = AlertRule
        fields = RULE_FIELDS  # what the service saves and audits
        labels = {"is_enabled": "Enabled"}

    def clean_email_to(self) -> str:
        addresses = email_recipients(self.cleaned_data["email_to"])
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"“{address}” is not an email address.") from None
        return ", ".join(addresses)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("vendor_account") and data.get("campaign"):
            self.add_error("campaign", "Choose a vendor account or a campaign, not both.")
        metric, threshold = data.get("metric"), data.get("threshold")
        if metric not in METRICS or threshold is None:
            return data
        info = METRICS[metric]
        if info.unit == "%" and threshold > 100:
            self.add_error("threshold", "A rate is at most 100%.")
        if not info.lower_is_worse and threshold <= 0:
            self.add_error("threshold", "The threshold must be above 0 (it opens at or above).")
            return data
        clear = data.get("clear_threshold")
        if clear is None:
            data["clear_threshold"] = default_clear_threshold(metric, threshold)
        else:
            problem = clear_threshold_problem(metric, threshold, clear)
            if problem:
                self.add_error("clear_threshold", problem)
        return data
