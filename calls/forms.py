"""Forms of the calls pages: they clean input; calls/services.py writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.http import QueryDict

from accounts.converters import MAX_ID
from accounts.json_input import clean_json_value
from calls.models import Agent, CallOutcome, CallState, FollowUpChannel, PostCallRule
from calls.selectors import CallFilters, calling_accounts
from calls.state import VENDOR_OUTCOMES
from calls.templating import TemplateError, check_template
from contacts.models import Contact
from vendors.models import VendorAccount, VendorKind

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
        # The rows are read from the raw POST, past the text fields' own NUL check.
        return clean_json_value(_pairs(self.variable_rows, "variable"))

    def clean_metadata(self) -> dict[str, str]:
        return clean_json_value(_pairs(self.metadata_rows, "metadata key"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("contact") and not (data.get("to_number") or "").strip():
            self.add_error("to_number", "Pick a contact or type the number to call.")
        return data

    def add_rejection(self, message: str, field: str) -> None:
        """Show a CallRejected message on the field it names (else above the form)."""
        self.add_error(field if field in self.fields else None, message)


# --- post-call rules ------------------------------------------------------------------------------


def _accounts_of(kind: str) -> Any:
    return VendorAccount.objects.filter(kind=kind, is_active=True).order_by("name")


class PostCallRuleForm(forms.ModelForm):
    """A post-call rule: when (scope, outcomes, variable) and what (analyse, write back,
    follow up). `senders` are Revor's connected accounts for the chosen Revor account, as
    (id, label) pairs; None when they could not be listed, and the sender is then typed."""

    outcomes = forms.MultipleChoiceField(
        choices=CallOutcome.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every ended call.",
    )

    class Meta:
        model = PostCallRule
        fields = [
            "name",
            "vendor_account",
            "campaign",
            "is_active",
            "outcomes",
            "variable_name",
            "variable_value",
            "analysis_account",
            "write_back",
            "follow_up_account",
            "follow_up_channel",
            "follow_up_sender",
            "follow_up_subject",
            "follow_up_message",
            "like_linkedin_post",
        ]
        labels = {
            "vendor_account": "Calls of the vendor account",
            "campaign": "…or calls of the campaign",
            "is_active": "Active",
            "variable_name": "Only when the extracted variable",
            "variable_value": "…has the value",
            "analysis_account": "Analyse the recording with",
            "write_back": "Write the results back to the voice platform",
            "follow_up_account": "Follow up through",
            "follow_up_channel": "Channel",
            "follow_up_sender": "Send from",
            "follow_up_subject": "Subject (email)",
            "follow_up_message": "Message",
            "like_linkedin_post": "Also like one of the contact's recent LinkedIn posts",
        }
        help_texts = {
            "variable_name": "Optional, e.g. interested. Compared as text, ignoring case.",
            "write_back": (
                "Summary, extracted variables and the analysis go into the call's metadata "
                "at the voice platform."
            ),
            "follow_up_message": (
                "Plain text. Placeholders: {{ contact.name }}, {{ contact.first_name }}, "
                "{{ contact.email }}, {{ contact.metadata.KEY }}, {{ call.summary }}, "
                "{{ call.outcome }}, {{ call.agent }}, {{ call.variables.KEY }}, "
                "{{ call.extracted.KEY }}."
            ),
        }
        widgets = {"follow_up_message": forms.Textarea(attrs={"rows": 5})}

    def __init__(
        self, *args: Any, senders: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["vendor_account"].queryset = calling_accounts()
        fields["campaign"].queryset = apps.get_model("campaigns", "Campaign").objects.order_by(
            "-created_at"
        )
        fields["analysis_account"].queryset = _accounts_of(VendorKind.CALLCOV)
        fields["follow_up_account"].queryset = _accounts_of(VendorKind.REVOR)
        fields["follow_up_channel"].choices = [("", "No message"), *FollowUpChannel.choices]
        if senders is not None:
            fields["follow_up_sender"] = forms.ChoiceField(
                required=False,
                choices=[("", "—"), *senders],
                label=self.Meta.labels["follow_up_sender"],
            )
        self.senders = senders

    def clean_follow_up_subject(self) -> str:
        return self._template("follow_up_subject")

    def clean_follow_up_message(self) -> str:
        return self._template("follow_up_message")

    def _template(self, name: str) -> str:
        text = self.cleaned_data.get(name) or ""
        try:
            return check_template(text)
        except TemplateError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        account, campaign = data.get("vendor_account"), data.get("campaign")
        if bool(account) == bool(campaign):
            raise forms.ValidationError("Choose either a vendor account or a campaign.")
        if data.get("variable_name") and not data.get("variable_value"):
            self.add_error("variable_value", "Give the value the variable must have.")
        calling = account or (campaign.vendor_account if campaign else None)
        if data.get("write_back") and calling and calling.kind != VendorKind.VOICE_PLATFORM:
            self.add_error("write_back", "Only voice-platform calls take a write-back.")
        channel = data.get("follow_up_channel")
        wants_revor = bool(channel) or data.get("like_linkedin_post")
        if wants_revor:
            if not data.get("follow_up_account"):
                self.add_error("follow_up_account", "Choose the Revor account that sends.")
            if not data.get("follow_up_sender"):
                self.add_error("follow_up_sender", "Choose the connected account to send from.")
        if channel and not data.get("follow_up_message", "").strip():
            self.add_error("follow_up_message", "Write the message to send.")
        if channel == FollowUpChannel.EMAIL and not data.get("follow_up_subject", "").strip():
            self.add_error("follow_up_subject", "An email needs a subject.")
        if data.get("like_linkedin_post") and channel and channel != FollowUpChannel.LINKEDIN:
            self.add_error(
                "like_linkedin_post",
                "The like is sent from the sender account: choose the LinkedIn channel, or no "
                "message.",
            )
        if (
            not (data.get("analysis_account") or data.get("write_back") or wants_revor)
            and not self.errors
        ):
            raise forms.ValidationError("Choose at least one thing to do after the call.")
        return data
