"""Forms of the calls pages: they clean input; calls/services.py writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.http import QueryDict

from accounts.converters import MAX_ID
from accounts.json_input import clean_json_value
from calls.fallback import FallbackRejected, check_fallback
from calls.models import (
    Agent,
    CallOutcome,
    CallState,
    CommonOutcome,
    FollowUpChannel,
    PostCallRule,
)
from calls.outcomes import CALLOPS, OUTCOME_TABLE
from calls.prefill import (
    declared_variables,
    number_reading,
    refill_rows,
    region_number,
    variables_for,
)
from calls.selectors import CallFilters, calling_accounts
from calls.templating import TemplateError, check_template
from contacts.models import Contact
from contacts.phones import settings_region
from vendors.models import VendorAccount, VendorKind

# Bounds of the database columns, so an absurd number is ignored like any bad filter.
MAX_SECONDS = 2**31 - 1

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


def vendor_reason_choices() -> list[tuple[str, str]]:
    """Every end code the vendors document (the outcome table's), verbatim."""
    reasons = sorted(
        {row.value for row in OUTCOME_TABLE if row.outcome and row.value and row.vendor != CALLOPS}
    )
    return [("", "Any"), *((reason, reason) for reason in reasons)]


class OutcomeFilterField(forms.ChoiceField):
    """The common outcomes by label; the older outcome names of links shared before them
    (`?outcome=not_picked`) are accepted too and still filter what they did."""

    def valid_value(self, value: Any) -> bool:
        return value in CallOutcome.values or super().valid_value(value)


class CallFilterForm(forms.Form):
    """The call log's filters, read from the query string. Bad values are dropped, not fatal."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    state = forms.ChoiceField(required=False, choices=[("", "Any"), *CallState.choices])
    outcome = OutcomeFilterField(required=False, choices=[("", "Any"), *CommonOutcome.choices])
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
    talk_from = forms.IntegerField(
        required=False, min_value=0, max_value=100, label="Agent talk from %"
    )
    talk_to = forms.IntegerField(
        required=False, min_value=0, max_value=100, label="Agent talk to %"
    )
    silences = forms.ChoiceField(required=False, choices=YES_NO, label="Long silences")
    gap_p90 = forms.FloatField(
        required=False, min_value=0, max_value=MAX_SECONDS, label="Response p90 over (s)"
    )

    def __init__(self, data: QueryDict, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["reason"].choices = vendor_reason_choices()

    def filters(self) -> CallFilters:
        """The filters of the valid fields; an invalid one is ignored (and shown as an error)."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        flag = {"yes": True, "no": False}
        outcome = data.get("outcome") or ""
        common = outcome in CommonOutcome.values
        return CallFilters(
            search=(data.get("q") or "").strip(),
            state=data.get("state") or "",
            common_outcomes=(outcome,) if common else (),
            outcome="" if common else outcome,
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
            talk_share_min=data.get("talk_from"),
            talk_share_max=data.get("talk_to"),
            long_silences=flag.get(data.get("silences") or ""),
            min_response_gap_p90=data.get("gap_p90"),
        )


# Key/value rows kept from one request; "Add a row" adds one empty row at a time.
MAX_ROWS = 50
# The no-JavaScript "Add a row" buttons: refresh=<this> adds an empty row to that list.
ADD_ROW = {"var": "add-var-row", "meta": "add-meta-row"}


def _rows(data: QueryDict | None, prefix: str) -> list[tuple[str, str]]:
    if data is None:
        return []
    keys = data.getlist(f"{prefix}_key")[:MAX_ROWS]
    values = data.getlist(f"{prefix}_value")[:MAX_ROWS]
    values += [""] * (len(keys) - len(values))
    return list(zip(keys, values, strict=False))


def _pairs(rows: list[tuple[str, str]], what: str, *, keep_empty: bool = True) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for raw_key, value in rows:
        key = raw_key.strip()
        if not key:
            if value.strip():
                raise forms.ValidationError(f"Each {what} value needs a name (“{value[:40]}”).")
            continue
        if key in pairs:
            raise forms.ValidationError(f"The {what} “{key}” is given twice.")
        if value or keep_empty:
            pairs[key] = value
    return pairs


def _as_id(raw: Any) -> int | None:
    text = str(raw or "")
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ID else None


class AgentOptOutForm(forms.Form):
    variable = forms.RegexField(
        regex=r"^[A-Za-z0-9_.-]*$",
        max_length=100,
        required=False,
        strip=True,
        label="Opt-out variable",
        help_text="The extracted variable by which this agent reports that the person asked "
        "not to be called (as do_not_call). When a call ends with it true, the number goes on "
        "the do-not-call list. Empty: none.",
        error_messages={"invalid": "Letters, digits, _ . and - only, as the vendor names it."},
    )


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
    )
    # Filled from the key/value rows in clean(); declared so errors land next to the rows.
    variables = forms.Field(required=False)
    metadata = forms.Field(required=False)
    fallback_agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(),
        required=False,
        empty_label="No fallback: wait for this vendor",
        label="If this vendor is down, call through",
    )

    def __init__(self, data: QueryDict | None = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["vendor_account"].queryset = calling_accounts()
        account_id = self._chosen_account_id()
        self.fields["agent"].queryset = (
            Agent.objects.filter(vendor_account_id=account_id, is_active=True)
            if account_id
            else Agent.objects.none()
        )
        fallbacks = Agent.objects.filter(
            is_active=True, vendor_account__in=calling_accounts()
        ).select_related("vendor_account")
        self.fields["fallback_agent"].queryset = (
            fallbacks.exclude(vendor_account_id=account_id) if account_id else fallbacks
        ).order_by("vendor_account__name", "name")
        self.fields["fallback_agent"].label_from_instance = lambda agent: (
            f"{agent.vendor_account.name} · {agent.name}"
        )
        self.fields[
            "fallback_agent"
        ].help_text = (
            "Used only while the chosen account's vendor is not answering (its circuit is open)."
        )
        reading = region_number(settings_region())
        self.fields["to_number"].help_text = f"Any usual format; without + it is read as {reading}."
        source = self._source()
        self.variable_rows = _rows(source, "var")
        self.metadata_rows = _rows(source, "meta")
        self.declared = declared_variables(self.chosen_agent())
        self.prefilled_for = str(source.get("prefilled_for", "")) if source else ""
        if not self.is_bound:
            self._prefill_variables()
        refresh = source.get("refresh", "") if source and not self.is_bound else ""
        self.extra_rows = {prefix: int(refresh == value) for prefix, value in ADD_ROW.items()}

    def _source(self) -> QueryDict | None:
        if self.is_bound:
            return self.data
        return self.initial if isinstance(self.initial, QueryDict) else None

    def _chosen_account_id(self) -> int | None:
        return _as_id((self.data if self.is_bound else self.initial).get("vendor_account"))

    def chosen_agent(self) -> Agent | None:
        """The agent the form shows as chosen: the one asked for when it belongs to the
        account, else the first one listed (what the browser selects)."""
        agents = self.fields["agent"].queryset
        wanted = _as_id((self.data if self.is_bound else self.initial).get("agent"))
        if wanted is not None:
            found = agents.filter(pk=wanted).first()
            if found is not None:
                return found
        return agents.first()

    def _chosen_contact(self, contact_id: int | None) -> Contact | None:
        return Contact.objects.filter(pk=contact_id).first() if contact_id else None

    def _prefill_variables(self) -> None:
        """Fill the agent's declared variables from the chosen contact, once per choice of
        agent and contact: `prefilled_for` ("agent:contact") says which choice filled the
        rows, so a value the operator typed survives reloads and a new contact's values
        replace only the previous contact's."""
        agent = self.chosen_agent()
        contact_id = _as_id(self.initial.get("contact"))
        choice = f"{agent.pk if agent else ''}:{contact_id or ''}"
        if choice == self.prefilled_for:
            return
        previous_agent_id, _, previous_contact_id = self.prefilled_for.partition(":")
        previous_agent = Agent.objects.filter(pk=_as_id(previous_agent_id)).first()
        previous = variables_for(previous_agent, self._chosen_contact(_as_id(previous_contact_id)))
        current = variables_for(agent, self._chosen_contact(contact_id))
        self.variable_rows = refill_rows(self.variable_rows, previous=previous, current=current)
        self.prefilled_for = choice

    def _shown_rows(self, rows: list[tuple[str, str]], prefix: str) -> list[tuple[str, str]]:
        filled = [(key, value) for key, value in rows if key.strip() or value.strip()]
        return filled + [("", "")] * (1 + self.extra_rows[prefix])

    @property
    def variable_inputs(self) -> list[tuple[str, str, str]]:
        """(name, value, placeholder) rows: a declared variable shows its default."""
        defaults = {variable["name"]: variable["default"] for variable in self.declared}
        return [
            (key, value, f"default: {defaults[key.strip()]}" if defaults.get(key.strip()) else "")
            for key, value in self._shown_rows(self.variable_rows, "var")
        ]

    @property
    def metadata_inputs(self) -> list[tuple[str, str]]:
        return self._shown_rows(self.metadata_rows, "meta")

    @property
    def to_number_reading(self) -> str:
        if self.errors.get("to_number"):
            return ""
        source = self._source()
        return number_reading(str(source.get("to_number", ""))) if source else ""

    def clean_variables(self) -> dict[str, str]:
        # The rows are read from the raw POST, past the text fields' own NUL check. A variable
        # left empty is not sent, so the agent uses its own default.
        return clean_json_value(_pairs(self.variable_rows, "variable", keep_empty=False))

    def clean_metadata(self) -> dict[str, str]:
        return clean_json_value(_pairs(self.metadata_rows, "metadata key"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        contact, number = data.get("contact"), (data.get("to_number") or "").strip()
        if contact and number:
            self.add_error(
                "to_number",
                f"Call either {contact} or this number, not both: clear the number, or choose "
                "“No contact” to call the number.",
            )
            self.add_error("contact", "A number is typed below as well: keep one of the two.")
        elif not contact and not number:
            self.add_error("to_number", "Pick a contact or type the number to call.")
        if data.get("vendor_account"):
            try:
                check_fallback(data["vendor_account"], data.get("fallback_agent"))
            except FallbackRejected as exc:
                self.add_error("fallback_agent", str(exc))
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
        choices=CommonOutcome.choices,
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
