"""Forms of the campaign pages: they clean input; campaigns/services.py writes."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.json_input import JSONObjectField
from calls.models import Agent
from calls.selectors import calling_accounts
from campaigns.models import Campaign, DialState, default_retry_rules
from campaigns.schedule import TemplateError, check_retry_rules, check_template, is_time_zone
from contacts.selectors import contact_time_zones

DAY_CHOICES = [
    (0, "Mon"),
    (1, "Tue"),
    (2, "Wed"),
    (3, "Thu"),
    (4, "Fri"),
    (5, "Sat"),
    (6, "Sun"),
]


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    vendor_account = forms.ModelChoiceField(queryset=calling_accounts(), label="Vendor account")
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.filter(is_active=True).select_related("vendor_account"),
        help_text="An agent of the chosen account.",
    )
    audience_search = forms.CharField(
        required=False,
        max_length=200,
        label="Audience: contacts matching",
        help_text="Name, number or email; empty for every contact.",
    )
    audience_time_zone = forms.ChoiceField(required=False, label="Audience: time zone")
    contact_ids = forms.CharField(
        required=False,
        label="Or pick contacts (ids)",
        help_text="Comma-separated contact ids; replaces the search when given.",
    )
    variables_template = JSONObjectField(
        required=False,
        label="Variables",
        help_text='e.g. {"name": "{{ contact.name }}"}: contact fields only.',
    )
    window_days = forms.TypedMultipleChoiceField(
        choices=DAY_CHOICES, coerce=int, widget=forms.CheckboxSelectMultiple, label="Calling days"
    )
    window_start_hour = forms.IntegerField(min_value=0, max_value=23, label="From hour (local)")
    window_end_hour = forms.IntegerField(min_value=1, max_value=24, label="Until hour (local)")
    default_time_zone = forms.CharField(max_length=64, label="Time zone for contacts without one")
    calls_per_minute = forms.IntegerField(min_value=1, max_value=600, label="Calls per minute")
    max_concurrent_calls = forms.IntegerField(min_value=1, max_value=200, label="At most at once")
    retry_rules = JSONObjectField(
        required=False,
        label="Retry rules",
        help_text=(
            'By outcome: {"retry_after_minutes": 120, "max_attempts": 3}, or null. Paced '
            "campaigns only: the voice platform retries its own campaigns' calls."
        ),
    )
    starts_at = forms.DateTimeField(required=False, label="Starts (UTC)")
    ends_at = forms.DateTimeField(required=False, label="Ends (UTC)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "window_days": [0, 1, 2, 3, 4],
                "window_start_hour": 9,
                "window_end_hour": 18,
                "default_time_zone": "UTC",
                "calls_per_minute": 10,
                "max_concurrent_calls": 5,
                "retry_rules": default_retry_rules(),
                "variables_template": {"name": "{{ contact.name }}"},
            },
        )
        super().__init__(*args, **kwargs)
        zones = [("", "Any"), ("-", "No time zone"), *((z, z) for z in contact_time_zones())]
        self.fields["audience_time_zone"].choices = zones

    @classmethod
    def for_campaign(cls, campaign: Campaign) -> CampaignForm:
        initial = {
            name: getattr(campaign, name) for name in cls.base_fields if hasattr(campaign, name)
        }
        if campaign.audience_picked:
            ids = campaign.entries.exclude(contact=None).values_list("contact_id", flat=True)
            initial["contact_ids"] = ", ".join(str(pk) for pk in ids)
        return cls(initial=initial)

    def clean_variables_template(self) -> dict:
        try:
            return check_template(self.cleaned_data["variables_template"])
        except TemplateError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_retry_rules(self) -> dict:
        try:
            return check_retry_rules(self.cleaned_data["retry_rules"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_default_time_zone(self) -> str:
        value = self.cleaned_data["default_time_zone"].strip()
        if not is_time_zone(value):
            raise forms.ValidationError("Give an IANA time zone, as Europe/Paris.")
        return value

    def clean_contact_ids(self) -> list[int] | None:
        text = self.cleaned_data["contact_ids"].strip()
        if not text:
            return None
        try:
            ids = [int(part) for part in text.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError("Give contact ids separated by commas.") from None
        return ids

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("window_start_hour"), data.get("window_end_hour")
        if start is not None and end is not None and start >= end:
            self.add_error("window_end_hour", "End after the start hour.")
        account, agent = data.get("vendor_account"), data.get("agent")
        if account and agent and agent.vendor_account_id != account.pk:
            self.add_error("agent", f"{agent} is not an agent of {account}.")
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "End after the start.")
        return data


class EntryFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any"), *DialState.choices])
    group = forms.ChoiceField(
        required=False,
        choices=[
            ("", "—"),
            ("dial", "dial"),
            ("dnc", "dnc"),
            ("outside", "outside"),
            ("invalid", "invalid"),
        ],
    )
