"""Forms of the voice-platform configuration pages: agents, flows, speaker voices, samples.

The document names the fields a request takes only through the project's reading
(docs/vendor-readings.md): agents `{name, flow_id?, voice?, language?, config?}`, flows
`{name, config}`, speakers `{name, language?}`. Everything else an agent or flow needs goes
in `config`, typed as JSON and checked for syntax here; the vendor judges its content.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.db.models import QuerySet

from accounts.json_input import parse_json_form_text
from vendors.models import Speaker, SpeakerStatus, VendorAccount, VendorKind, VoiceFlow
from vendors.voice_config import MAX_SAMPLES_PER_UPLOAD
from vendors.voice_platform.samples import ACCEPTED_EXTENSIONS, SAMPLE_MAX_BYTES

# Our reading where the document is silent: a speaker name goes into the URL path, so callops
# keeps it to letters, digits, "-", "_" and "." (the sandbox refuses only "/").
SPEAKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A BCP 47-looking tag ("en", "en-US", "pt_BR"); the vendor decides which it supports.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")


def voice_accounts() -> QuerySet[VendorAccount]:
    return VendorAccount.objects.filter(kind=VendorKind.VOICE_PLATFORM, is_active=True)


class JsonObjectField(forms.CharField):
    """A JSON object typed into a textarea; "" is an empty config unless the field is required."""

    widget = forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code-input"})

    def clean(self, value: Any) -> dict[str, Any]:  # type: ignore[override]
        text = super().clean(value).strip()
        if not text:
            return {}
        parsed = parse_json_form_text(text)
        if not isinstance(parsed, dict):
            raise forms.ValidationError(
                'Give a JSON object, e.g. {"prompt": "You are …"}.', code="json_object"
            )
        return parsed


class LanguageField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "A language tag such as en or en-US (optional).")
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:  # type: ignore[override]
        text = super().clean(value).strip()
        if text and not LANGUAGE_TAG.fullmatch(text):
            raise forms.ValidationError("Give a language tag such as en or en-US.")
        return text


class AccountField(forms.ModelChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=voice_accounts(),
            label="Voice-platform account",
            empty_label=None,
            **kwargs,
        )


class VoiceRequestForm(forms.Form):
    """A form that creates something at the vendor. `request_key` is made when the form is
    shown and sent as the Idempotency-Key: a double submit creates one thing, not two. A
    refused submission gets a fresh key (the corrected request is a new request)."""

    # Optional: without one (a form posted by hand) the client makes a key per request.
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("request_key", str(uuid.uuid4()))

    def renew_request_key(self) -> None:
        """After the vendor refused: the corrected submission is a new request."""
        self.data = self.data.copy()
        self.data["request_key"] = str(uuid.uuid4())


class VoiceAgentForm(VoiceRequestForm):
    vendor_account = AccountField()
    name = forms.CharField(max_length=200)
    flow = forms.ModelChoiceField(
        queryset=VoiceFlow.objects.filter(is_active=True).select_related("vendor_account"),
        required=False,
        empty_label="(no flow)",
        help_text="A flow of the same account. Create one first if the list is empty.",
    )
    voice = forms.CharField(
        max_length=100,
        required=False,
        help_text="A stock voice (e.g. alloy) or the name of a deployed speaker voice.",
    )
    language = LanguageField()
    config = JsonObjectField(
        label="Other settings (JSON)",
        required=False,
        help_text=(
            "Everything else the agent takes, as one JSON object, e.g. "
            '{"prompt": "You are a friendly renewals agent", "max_duration_seconds": 300}. '
            "Sent as the agent's config; the voice platform checks its content."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["flow"].label_from_instance = lambda flow: (
            f"{flow.name} ({flow.vendor_account.name})"
        )
        self.deployed_speakers = list(
            Speaker.objects.filter(
                vendor_account__in=voice_accounts(), status=SpeakerStatus.DEPLOYED
            ).values_list("name", flat=True)
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        account, flow = data.get("vendor_account"), data.get("flow")
        if account and flow and flow.vendor_account_id != account.pk:
            self.add_error("flow", f"This flow belongs to {flow.vendor_account.name}.")
        data["name"] = (data.get("name") or "").strip()
        data["voice"] = (data.get("voice") or "").strip()
        return data


class VoiceFlowForm(VoiceRequestForm):
    vendor_account = AccountField()
    name = forms.CharField(max_length=200)
    config = JsonObjectField(
        label="Flow definition (JSON)",
        help_text=(
            'The flow as one JSON object, e.g. {"steps": [{"say": "Hello {{ name }}"}]}. '
            "The voice platform checks its content."
        ),
    )

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()


class SpeakerForm(forms.Form):
    vendor_account = AccountField()
    name = forms.CharField(
        max_length=64,
        help_text="Letters, digits, “-”, “_” and “.”; it names the voice at the vendor.",
    )
    language = LanguageField()

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not SPEAKER_NAME.fullmatch(name):
            raise forms.ValidationError(
                "Use letters, digits, “-”, “_” and “.” only, starting with a letter or digit."
            )
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        account, name = data.get("vendor_account"), data.get("name")
        if account and name and Speaker.objects.filter(vendor_account=account, name=name).exists():
            self.add_error("name", f"{account.name} already has a speaker named {name}.")
        return data


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class SamplesField(forms.FileField):
    """One or more files; each is checked (size, real type) by vendors.voice_config."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleFileInput(attrs={"accept": ",".join(("audio/*", *ACCEPTED_EXTENSIONS))}),
        )
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        files = data if isinstance(data, list | tuple) else [data]
        return [single(item, initial) for item in files if item] or [single(None, initial)]


class SampleUploadForm(forms.Form):
    files = SamplesField(
        label="Audio samples",
        help_text=(
            f"Up to {MAX_SAMPLES_PER_UPLOAD} files at a time, each at most "
            f"{SAMPLE_MAX_BYTES // (1024 * 1024)} MB: WAV, MP3, FLAC, Ogg, M4A or WebM. "
            "Clean recordings of one speaker work best."
        ),
    )
