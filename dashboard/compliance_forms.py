"""Forms of the compliance settings page: default calling hours, overrides by place, caps."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from django import forms

from contacts.compliance import WEEKDAY_NAMES, minutes_text
from contacts.models import CallingHoursRule

WEEKDAY_CHOICES = [(str(day), name[:3]) for day, name in enumerate(WEEKDAY_NAMES)]
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_PLACE = re.compile(r"^([A-Z]{2})(?:-([A-Z0-9]{1,3}))?$")


class LocalTimeField(forms.CharField):
    """A local time of day typed "8:00" or "20:30" ("24:00": midnight at the end of the day),
    as minutes after midnight."""

    def __init__(self, **kwargs: Any) -> None:
        # No max_length: its validator would measure the cleaned minutes, an int.
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "numeric", "size": 5, "maxlength": 5})
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return minutes_text(value) if isinstance(value, int) else value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = (super().to_python(value) or "").strip()
        if not text:
            return None
        match = _TIME.match(text)
        if not match:
            raise forms.ValidationError("Type a time as hours:minutes, e.g. 8:00 or 20:30.")
        hours, minutes = int(match[1]), int(match[2])
        if minutes > 59 or hours > 24 or (hours == 24 and minutes):
            raise forms.ValidationError("Type a time between 0:00 and 24:00.")
        return hours * 60 + minutes


def _check_hours(form: forms.Form, data: dict[str, Any]) -> None:
    start, end = data.get("start_minute"), data.get("end_minute")
    if start is not None and start >= 24 * 60:
        form.add_error("start_minute", "Calling hours start before 24:00.")
    elif start is not None and end is not None and end <= start:
        form.add_error("end_minute", "The end comes after the start (both in local time).")


class HoursFields(forms.Form):
    start_minute = LocalTimeField(label="From")
    end_minute = LocalTimeField(label="Until")
    excluded_weekdays = forms.TypedMultipleChoiceField(
        label="No calls on",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    skip_public_holidays = forms.BooleanField(label="No calls on public holidays", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        _check_hours(self, data)
        return data


class DefaultHoursForm(HoursFields):
    """The hours for every place without a rule of its own."""


class OverrideForm(HoursFields):
    place = forms.CharField(
        label="Place",
        max_length=10,
        help_text="A country (US, CA, GB) or a US state or other subdivision (US-FL).",
        widget=forms.TextInput(attrs={"size": 6, "autocapitalize": "characters"}),
    )
    label = forms.CharField(label="Name", max_length=80, required=False)

    def clean_place(self) -> str:
        place = self.cleaned_data["place"].strip().upper()
        match = _PLACE.match(place)
        if not match:
            raise forms.ValidationError("Write a country code (US) or a country and state (US-FL).")
        if match[1] not in phonenumbers.SUPPORTED_REGIONS:
            raise forms.ValidationError(f"{match[1]} is not a country code phone numbers use.")
        return place


class BaseOverrideFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        seen: set[str] = set()
        for form in self.forms:
            place = form.cleaned_data.get("place")
            if not place or form.cleaned_data.get("DELETE"):
                continue
            if place in seen:
                form.add_error("place", f"{place} has two rules: keep one.")
            seen.add(place)


OverrideFormSet = forms.formset_factory(
    OverrideForm, formset=BaseOverrideFormSet, extra=2, can_delete=True, max_num=300
)


class CapsForm(forms.Form):
    max_attempts_per_day = forms.IntegerField(
        label="Attempts per 24 h", min_value=0, max_value=100, help_text="0: no cap."
    )
    max_attempts_per_week = forms.IntegerField(
        label="Attempts per 7 days", min_value=0, max_value=500, help_text="0: no cap."
    )
    min_gap_minutes = forms.IntegerField(
        label="Minimum gap between attempts (minutes)",
        min_value=0,
        max_value=7 * 24 * 60,
        help_text="0: none.",
    )


def rule_values(data: dict[str, Any], *, place: str, label: str) -> dict[str, Any]:
    """CallingHoursRule field values from a form's cleaned data."""
    return {
        "place": place,
        "label": label,
        "start_minute": data["start_minute"],
        "end_minute": data["end_minute"],
        "excluded_weekdays": sorted(set(data.get("excluded_weekdays") or [])),
        "skip_public_holidays": bool(data.get("skip_public_holidays")),
    }


def rule_initial(rule: CallingHoursRule) -> dict[str, Any]:
    return {
        "place": rule.place,
        "label": rule.label,
        "start_minute": rule.start_minute,
        "end_minute": rule.end_minute,
        "excluded_weekdays": [str(day) for day in rule.excluded_weekdays or []],
        "skip_public_holidays": rule.skip_public_holidays,
    }
