"""Forms of the contacts pages: they clean input; services.py writes."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.utils import timezone

from contacts.consent import ConsentValues
from contacts.csv_import import FIELDS
from contacts.models import ConsentRecord, ConsentType, Contact, DuplicatePolicy
from contacts.phones import PhoneError, normalize_phone


def _clean_phone(raw: str) -> tuple[str, str]:
    try:
        result = normalize_phone(raw)
    except PhoneError as exc:
        raise forms.ValidationError(f"This number cannot be used: {exc.reason}.") from None
    return result.e164, result.time_zone


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(
        max_length=40, help_text="Any usual format; numbers without + are read as local."
    )
    email = forms.EmailField(required=False)
    linkedin_url = forms.URLField(
        label="LinkedIn URL", required=False, max_length=200, assume_scheme="https"
    )
    time_zone = forms.CharField(
        max_length=64, required=False, help_text="Left empty, it is taken from the number."
    )

    def __init__(self, *args: Any, instance: Contact | None = None, **kwargs: Any) -> None:
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "phone": instance.phone_e164,
                "email": instance.email,
                "linkedin_url": instance.linkedin_url,
                "time_zone": instance.time_zone,
            }
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.derived_time_zone = ""

    def clean_phone(self) -> str:
        e164, self.derived_time_zone = _clean_phone(self.cleaned_data["phone"])
        taken = Contact.objects.filter(phone_e164=e164)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"Another contact already has the number {e164}.")
        return e164

    def clean_time_zone(self) -> str:
        zone = self.cleaned_data["time_zone"].strip()
        if zone and zone not in zoneinfo.available_timezones():
            raise forms.ValidationError(
                f"Unknown time zone “{zone}” (use a name like Europe/Paris)."
            )
        return zone

    def contact_values(self) -> dict[str, str]:
        data = self.cleaned_data
        return {
            "phone_e164": data["phone"],
            "name": data["name"].strip(),
            "email": data["email"],
            "linkedin_url": data["linkedin_url"],
            "time_zone": data["time_zone"] or self.derived_time_zone,
        }


class DoNotCallForm(forms.Form):
    phone = forms.CharField(max_length=40)
    reason = forms.CharField(max_length=200, required=False)

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data["phone"])[0]


class DoNotCallRemoveForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Why may this number be called again?",
        help_text="Kept in the audit log with the opt-out it undoes.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. written consent given on 3 Dec"}),
    )


class ContactListForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Add to a list",
        widget=forms.TextInput(attrs={"list": "contact-list-names", "autocomplete": "off"}),
        help_text="An existing list or a new name.",
    )


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", allow_empty_file=True)


class ImportMappingForm(forms.Form):
    duplicates = forms.ChoiceField(
        choices=DuplicatePolicy.choices,
        initial=DuplicatePolicy.FILL,
        widget=forms.RadioSelect,
        label="When a number is already stored",
    )
    list_name = forms.CharField(
        required=False,
        max_length=100,
        label="Also add them to a list",
        help_text="A list name, new or existing: pick these contacts later as a campaign's "
        "audience. The file itself is remembered either way.",
        widget=forms.TextInput(attrs={"list": "contact-list-names", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, headers: list[str], mapping: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header or f"Column {index + 1}",
                choices=list(FIELDS.items()),
                required=False,
                initial=mapping[index] if index < len(mapping) else "",
            )

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"column_{index}"] for index in range(len(self.headers))]

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(f"column_{i}", "") for i in range(len(self.headers))]


class ConsentForm(forms.Form):
    """A consent record, in the viewer's time zone (settings.TIME_ZONE)."""

    consent_type = forms.ChoiceField(label="Type", choices=ConsentType.choices)
    given_at = forms.DateTimeField(
        label="Given", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    expires_at = forms.DateTimeField(
        label="Expires",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: it does not expire.",
    )
    evidence = forms.CharField(
        label="Evidence (text)", max_length=500, required=False, widget=forms.Textarea({"rows": 2})
    )
    evidence_url = forms.URLField(
        label="Evidence URL", max_length=500, required=False, assume_scheme="https"
    )
    evidence_file = forms.CharField(
        label="Evidence file",
        max_length=300,
        required=False,
        help_text="Where the signed form or recording is kept (a path or document id).",
    )
    call_id = forms.IntegerField(
        label="Call id", required=False, min_value=1, help_text="The call consent was given on."
    )
    source = forms.CharField(
        max_length=200, required=False, help_text="Where imported consent came from."
    )

    @classmethod
    def for_record(cls, record: ConsentRecord) -> ConsentForm:
        local = timezone.localtime
        return cls(
            initial={
                "consent_type": record.consent_type,
                "given_at": local(record.given_at).strftime("%Y-%m-%dT%H:%M"),
                "expires_at": local(record.expires_at).strftime("%Y-%m-%dT%H:%M")
                if record.expires_at
                else "",
                "evidence": record.evidence,
                "evidence_url": record.evidence_url,
                "evidence_file": record.evidence_file,
                "call_id": record.call_id,
                "source": record.source,
            }
        )

    def values(self) -> ConsentValues:
        data = self.cleaned_data
        return ConsentValues(
            consent_type=data["consent_type"],
            given_at=data["given_at"],
            expires_at=data["expires_at"],
            evidence=data["evidence"].strip(),
            evidence_url=data["evidence_url"],
            evidence_file=data["evidence_file"].strip(),
            call_id=data["call_id"],
            source=data["source"].strip(),
        )
