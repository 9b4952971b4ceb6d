"""Forms of the calls pages: they clean input; calls/services.py writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from calls.models import Agent, CallOutcome, CallState
from calls.selectors import CallFilters, calling_accounts
from calls.state import VENDOR_OUTCOMES
from contacts.models import Contact
from dashboard.converters import MAX_ID
from vendors.models import VendorAccount

# Bounds of the database columns, so an absurd number is ignored like any bad filter.
MAX_SECONDS = 2**31 - 1

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


def vendor_reason_choices() -> list[tuple[str, str]]:
    """Every disconnection reason the calling vendors document, verbatim."""
    reasons = sorted({reason for table in VENDOR_OUTCOMES.values() for reason in table})
    return [("", "Any"), *((reason, reason) for reason in reasons)]


class CallFilterForm(forms.Form):
    """The call log's filters, read from the query string. Bad values are dropped, not fatal."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    state = forms.ChoiceField(required=False, choices=[("", "Any"), *CallState.choices])
    outcome = forms.ChoiceField(required=False, choices=[("", "Any"), *CallOutcome.choices])
    reason = forms.ChoiceField(required=False, label="Vendor reason")
    account = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, label="Vendor account"
    )
    agent = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    campaign = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")
    min_duration = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_SECONDS, label="Min. seconds"
    )
    max_duration = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_SECONDS, label="Max. seconds"
    )
    recording = forms.ChoiceField(required=False, choices=YES_NO, label="Recording")
    stale = forms.ChoiceField(required=False, choices=YES_NO, label="Stale")

    def __init__(self, data: QueryDict, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["reason"].choices = vendor_reason_choices()

    def filters(self) -> CallFilters:
        """The filters of the valid fields; an invalid one is ignored (and shown as an error)."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        flag = {"yes": True, "no": False}
        return CallFilters(
            search=(data.get("q") or "").strip(),
            state=data.get("state") or "",
            outcome=data.get("outcome") or "",
            vendor_outcome=data.get("reason") or "",
            vendor_account_id=data.get("account"),
            agent_id=data.get("agent"),
            campaign_id=data.get("campaign"),
            created_from=data.get("since"),
            created_to=data.get("until"),
            min_duration=data.get("min_duration"),
            max_duration=data.get("max_duration"),
            has_recording=flag.get(data.get("recording") or ""),
            is_stale=flag.get(data.get("stale") or ""),
        )


# Rows of key/value inputs shown without JavaScript; the "Add row" button adds more.
EMPTY_ROWS = 5
MAX_ROWS = 50


def _rows(data: QueryDict | None, prefix: str) -> list[tuple[str, str]]:
    if data is None:
        return []
    keys = data.getlist(f"{prefix}_key")[:MAX_ROWS]
    values = data.getlist(f"{prefix}_value")[:MAX_ROWS]
    values += [""] * (len(keys) - len(values))
    return list(zip(keys, values, strict=False))


def _pairs(rows: list[tuple[str, str]], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for raw_key, value in rows:
        key = raw_key.strip()
        if not key:
            if value.strip():
                raise forms.ValidationError(f"Each {what} value needs a name (“{value[:40]}”).")
            continue
        if key in pairs:
            raise forms.ValidationError(f"The {what} “{key}” is given twice.")
        pairs[key] = value
    return pairs


class NewCallForm(forms.Form):
    vendor_account = forms.ModelChoiceField(
        queryset=VendorAccount.objects.none(), empty_label="Choose an account"
    )
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), empty_label="Choose an agent")
    contact = forms.ModelChoiceField(
        queryset=Contact.objects.all(), required=False, empty_label="No contact: type a number"
    )
    to_number = forms.CharField(
        required=False,
        max_length=40,
        label="Phone number",
        help_text="Any usual format; numbers without + are read as local.",
    )
    # Filled from the key/value rows in clean(); declared so errors land next to the rows.
    variables = forms.Field(required=False)
    metadata = forms.Field(required=False)

    def __init__(self, data: QueryDict | None = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["vendor_account"].queryset = calling_accounts()
        account_id = self._chosen_account_id()
        self.fields["agent"].queryset = (
            Agent.objects.filter(vendor_account_id=account_id, is_active=True)
            if account_id
            else Agent.objects.none()
        )
        self.variable_rows = _rows(data, "var") or self._initial_rows("var")
        self.metadata_rows = _rows(data, "meta") or self._initial_rows("meta")

    def _chosen_account_id(self) -> int | None:
        raw = (self.data if self.is_bound else self.initial).get("vendor_account")
        try:
            return int(raw) if raw else None
        except (TypeError, ValueError):
            return None

    def _initial_rows(self, prefix: str) -> list[tuple[str, str]]:
        initial = self.initial
        if isinstance(initial, QueryDict):
            return _rows(initial, prefix)
        return []

    def padded_rows(self, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return rows + [("", "")] * max(1, EMPTY_ROWS - len(rows))

    @property
    def variable_inputs(self) -> list[tuple[str, str]]:
        return self.padded_rows(self.variable_rows)

    @property
    def metadata_inputs(self) -> list[tuple[str, str]]:
        return self.padded_rows(self.metadata_rows)

    def clean_variables(self) -> dict[str, str]:
        return _pairs(self.variable_rows, "variable")

    def clean_metadata(self) -> dict[str, str]:
        return _pairs(self.metadata_rows, "metadata key")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("contact") and not (data.get("to_number") or "").strip():
            self.add_error("to_number", "Pick a contact or type the number to call.")
        return data

    def add_rejection(self, message: str, field: str) -> None:
        """Show a CallRejected message on the field it names (else above the form)."""
        self.add_error(field if field in self.fields else None, message)
