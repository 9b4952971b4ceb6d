"""Forms of the campaign pages: they clean input; campaigns/services.py writes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings
from django.forms.utils import ErrorDict

from calls.models import Agent
from calls.selectors import agents_for_account, calling_accounts
from campaigns.arm_form import add_arm_fields, arm_initial, arm_rows, clean_arm_rows
from campaigns.form_rows import (
    add_row_fields,
    clean_retry_rows,
    clean_variable_rows,
    retry_rows,
    row_initial,
    variable_rows,
)
from campaigns.models import Campaign, DialState, default_retry_rules
from campaigns.services import EDITABLE_FIELDS
from contacts.models import Contact, ContactImport, ContactList, ImportStatus
from contacts.selectors import contact_lists, contact_time_zones, finished_imports

DAY_CHOICES = [
    (0, "Mon"),
    (1, "Tue"),
    (2, "Wed"),
    (3, "Thu"),
    (4, "Fri"),
    (5, "Sat"),
    (6, "Sun"),
]

AUDIENCE_MODES = [("filter", "Contacts matching a filter"), ("pick", "Contacts I pick")]


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class LocalDateTimeField(forms.DateTimeField):
    """A date and time as the user typed it (no zone): the form applies the zone they chose."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str) and value.strip():
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                raise forms.ValidationError("Give a date and time, as 2026-03-01 09:00.") from None
            return parsed.replace(tzinfo=None)
        return super().to_python(value)


class ImportChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ContactImport) -> str:
        when = obj.created_at.astimezone(ZoneInfo(settings.TIME_ZONE))
        rows = f"{obj.total_rows:,} row{'s' if obj.total_rows != 1 else ''}"
        return f"{obj.file_name} · {when:%d %b %Y %H:%M} · {rows}"


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        return None


def _id(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    vendor_account = forms.ModelChoiceField(queryset=calling_accounts(), label="Vendor account")
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(),
        error_messages={"invalid_choice": "Choose one of the chosen account's agents."},
        help_text="The agents of the chosen vendor account.",
    )
    audience_mode = forms.ChoiceField(
        choices=AUDIENCE_MODES, widget=forms.RadioSelect, label="Audience", initial="filter"
    )
    audience_search = forms.CharField(
        required=False,
        max_length=200,
        label="Search text",
        help_text="Name, number or email; empty for every contact.",
    )
    audience_time_zone = forms.ChoiceField(required=False, label="In time zone")
    audience_created_from = forms.DateField(
        required=False, label="Added from", widget=forms.DateInput(attrs={"type": "date"})
    )
    audience_created_until = forms.DateField(
        required=False, label="Added until", widget=forms.DateInput(attrs={"type": "date"})
    )
    audience_list = forms.ModelChoiceField(
        queryset=ContactList.objects.none(),
        required=False,
        label="In list",
        empty_label="Any",
        error_messages={"invalid_choice": "That list no longer exists; choose another."},
    )
    audience_import = ImportChoiceField(
        queryset=ContactImport.objects.none(),
        required=False,
        label="From imported file",
        empty_label="Any",
        error_messages={"invalid_choice": "That import is not available; choose another."},
    )
    picked_contacts = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.all(),
        required=False,
        widget=forms.MultipleHiddenInput,
        label="Contacts picked",
        error_messages={"invalid_choice": "A picked contact no longer exists; pick again."},
    )
    window_days = forms.TypedMultipleChoiceField(
        choices=DAY_CHOICES, coerce=int, widget=forms.CheckboxSelectMultiple, label="Calling days"
    )
    window_start_hour = forms.IntegerField(min_value=0, max_value=23, label="From hour (local)")
    window_end_hour = forms.IntegerField(min_value=1, max_value=24, label="Until hour (local)")
    default_time_zone = forms.ChoiceField(
        label="Time zone for contacts without one", choices=time_zone_choices
    )
    calls_per_minute = forms.IntegerField(min_value=1, max_value=600, label="Calls per minute")
    max_concurrent_calls = forms.IntegerField(min_value=1, max_value=200, label="At most at once")
    schedule_time_zone = forms.ChoiceField(
        label="Schedule time zone",
        choices=time_zone_choices,
        help_text="The start and end below are in this time zone.",
    )
    starts_at = LocalDateTimeField(required=False, label="Starts")
    ends_at = LocalDateTimeField(required=False, label="Ends")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "window_days": [0, 1, 2, 3, 4],
                "window_start_hour": 9,
                "window_end_hour": 18,
                "default_time_zone": settings.TIME_ZONE,
                "schedule_time_zone": settings.TIME_ZONE,
                "calls_per_minute": 10,
                "max_concurrent_calls": 5,
                "audience_mode": "filter",
                **row_initial(
                    retry_rules=default_retry_rules(),
                    variables_template={"name": "{{ contact.name }}"},
                ),
            },
        )
        super().__init__(*args, **kwargs)
        zones = [("", "Any"), ("-", "No time zone"), *((z, z) for z in contact_time_zones())]
        self.fields["audience_time_zone"].choices = zones
        self.fields["audience_list"].queryset = contact_lists()
        # Finished imports only, and the one a stored campaign names even when it is old.
        recent = list(finished_imports().values_list("pk", flat=True))
        stored = _id(self["audience_import"].value())
        self.fields["audience_import"].queryset = ContactImport.objects.filter(
            pk__in=[*recent, *([stored] if stored else [])], status=ImportStatus.DONE
        ).order_by("-id")
        if not recent:
            self.fields["audience_import"].help_text = "No import yet: Contacts → Import."
        if not self.fields["audience_list"].queryset.exists():
            self.fields[
                "audience_list"
            ].help_text = "No list yet: name one when importing, or on a contact's page."
        add_row_fields(self)
        add_arm_fields(self)
        account_id = self["vendor_account"].value()
        if str(account_id or "").isdigit():
            self.fields["agent"].queryset = agents_for_account(vendor_account_id=int(account_id))
        else:
            self.fields["agent"].empty_label = "Choose a vendor account first"

    @classmethod
    def quiet(cls, data: Any) -> CampaignForm:
        """The form as posted, shown again without judging it (the no-JavaScript "Show agents"
        and "Find" buttons, and htmx reloads of one region)."""
        form = cls(data)
        form._errors = ErrorDict()  # nothing was checked, so nothing is wrong yet
        return form

    @classmethod
    def for_campaign(cls, campaign: Campaign) -> CampaignForm:
        initial = {
            name: getattr(campaign, name) for name in cls.base_fields if hasattr(campaign, name)
        }
        zone_name = campaign.schedule_time_zone or settings.TIME_ZONE
        initial["schedule_time_zone"] = zone_name
        for name in ("starts_at", "ends_at"):
            if initial.get(name):
                local = initial[name].astimezone(ZoneInfo(zone_name))
                initial[name] = local.replace(tzinfo=None)  # shown as typed, in that zone
        initial["audience_mode"] = "pick" if campaign.audience_picked else "filter"
        if campaign.audience_picked:
            initial["picked_contacts"] = list(
                campaign.entries.exclude(contact=None).values_list("contact_id", flat=True)
            )
        initial.update(
            row_initial(
                retry_rules=campaign.retry_rules, variables_template=campaign.variables_template
            )
        )
        initial.update(arm_initial(campaign))
        return cls(initial=initial)

    def picked_ids(self) -> list[int]:
        values = self["picked_contacts"].value() or []
        return [int(value) for value in values if str(value).isdigit()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("window_start_hour"), data.get("window_end_hour")
        if start is not None and end is not None and start >= end:
            self.add_error("window_end_hour", "End after the start hour.")
        picking = data.get("audience_mode") == "pick"
        if picking and not data.get("picked_contacts") and "picked_contacts" not in self.errors:
            self.add_error("picked_contacts", "Tick at least one contact, or use a filter.")
        added_from, added_until = (
            data.get("audience_created_from"),
            data.get("audience_created_until"),
        )
        if added_from and added_until and added_until < added_from:
            self.add_error("audience_created_until", "End on or after the first day.")
        self._clean_schedule(data)
        data["retry_rules"] = clean_retry_rows(self, data)
        data["variables_template"] = clean_variable_rows(self, data)
        data["arms"] = clean_arm_rows(self, data)
        return data

    def _clean_schedule(self, data: dict[str, Any]) -> None:
        """Read the start and end in the chosen zone and keep them in UTC."""
        zone_name = data.get("schedule_time_zone")
        if not zone_name:
            return
        tz = ZoneInfo(zone_name)
        for name in ("starts_at", "ends_at"):
            local = data.get(name)
            if local is None:
                continue
            aware = local.replace(tzinfo=tz)
            if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
                self.add_error(name, f"This time does not exist in {zone_name} (a clock change).")
                data[name] = None
                continue
            data[name] = aware.astimezone(UTC)
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "End after the start.")

    def campaign_data(self) -> dict[str, Any]:
        """What campaigns.services.campaign_save stores."""
        data = self.cleaned_data
        names = [name for name in EDITABLE_FIELDS if name in data]
        saved = {name: data[name] for name in names}
        saved["audience_picked"] = data["audience_mode"] == "pick"
        return saved

    def audience_filter(self) -> dict[str, Any]:
        """The arguments of campaigns.services.audience_contacts."""
        data = self.cleaned_data
        if data["audience_mode"] == "pick":
            return {"contact_ids": [contact.pk for contact in data["picked_contacts"]]}
        return {
            "search": data["audience_search"].strip(),
            "time_zone": data["audience_time_zone"],
            "created_from": data["audience_created_from"],
            "created_until": data["audience_created_until"],
            "list_id": data["audience_list"].pk if data["audience_list"] else None,
            "import_id": data["audience_import"].pk if data["audience_import"] else None,
        }

    def typed_audience_filter(self) -> dict[str, Any]:
        """audience_filter() from what was typed, valid or not (the live preview): nothing a
        database refuses (NUL) reaches it, unreadable dates and ids count as not given."""
        return {
            "search": str(self["audience_search"].value() or "").replace("\x00", "").strip()[:200],
            "time_zone": str(self["audience_time_zone"].value() or "").replace("\x00", ""),
            "created_from": _day(self["audience_created_from"].value()),
            "created_until": _day(self["audience_created_until"].value()),
            "list_id": _id(self["audience_list"].value()),
            "import_id": _id(self["audience_import"].value()),
        }

    def retry_rows(self) -> list[list[forms.BoundField]]:
        return retry_rows(self)

    def variable_rows(self) -> list[list[forms.BoundField]]:
        return variable_rows(self)

    def arm_rows(self) -> list:
        return arm_rows(self)


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
            ("not_dialled", "not_dialled"),
        ],
    )
