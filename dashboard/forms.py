"""Forms of the settings pages. Secrets are write-only: no form ever renders a stored one."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.utils import timezone

from accounts.json_input import parse_json_form_text
from accounts.models import ROLE_CHOICES, AuditAction
from accounts.roles import Role
from vendors.models import DOCUMENTED_BASE_URLS, VendorAccount, VendorKind, VendorMode
from vendors.ratelimit import configured_limits

CUSTOM_BASE_URL = "custom"


def base_url_choices() -> list[tuple[str, Any]]:
    """'custom' plus every documented URL, grouped by vendor (settings.js filters by kind)."""
    choices: list[tuple[str, Any]] = [(CUSTOM_BASE_URL, "Custom URL (below)")]
    for kind in VendorKind:
        urls = DOCUMENTED_BASE_URLS.get(kind, {})
        if urls:
            choices.append(
                (kind.label, [(url, f"{environment}: {url}") for environment, url in urls.items()])
            )
    return choices


def documented_kind_of(url: str) -> str | None:
    for kind, urls in DOCUMENTED_BASE_URLS.items():
        if url in urls.values():
            return str(kind)
    return None


class SecretInput(forms.PasswordInput):
    """A password box that never renders a value back and asks browsers not to save it."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", "spellcheck": "false", **(attrs or {})},
            render_value=False,
        )


class VendorAccountForm(forms.Form):
    kind = forms.ChoiceField(label="Vendor", choices=VendorKind.choices)
    name = forms.CharField(max_length=100)
    mode = forms.ChoiceField(choices=VendorMode.choices, initial=VendorMode.TEST)
    base_url_choice = forms.ChoiceField(label="Base URL", choices=base_url_choices)
    custom_base_url = forms.URLField(
        label="Custom base URL",
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text="Used when the base URL is “Custom”, e.g. the vendor sandbox.",
    )
    api_key = forms.CharField(
        label="API key",
        widget=SecretInput(),
        max_length=500,
        help_text="Stored encrypted; only its last four characters are ever shown.",
    )
    webhook_secret = forms.CharField(
        label="Webhook secret",
        widget=SecretInput(),
        required=False,
        max_length=500,
        help_text="The signing secret the vendor's console shows, if it has one.",
    )
    price_per_minute = forms.DecimalField(
        label="Price per minute",
        required=False,
        min_value=0,
        max_digits=8,
        decimal_places=4,
        help_text="What one minute of calls costs on this account, from the vendor's price list. "
        "Usage panels and campaigns show estimated costs with it; leave empty if unknown.",
    )
    rate_limits = forms.CharField(
        label="Plan limits (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=(
            "Requests per minute by endpoint group, overriding the documented limits, e.g. "
            '{"default": 500} or {"POST /analysis/": {"limit": 20, "window_seconds": 60}}.'
        ),
    )

    def __init__(self, *args: Any, account: VendorAccount | None = None, **kwargs: Any) -> None:
        self.account = account
        if account is not None:
            documented = documented_kind_of(account.base_url) == account.kind
            kwargs.setdefault(
                "initial",
                {
                    "kind": account.kind,
                    "name": account.name,
                    "mode": account.mode,
                    "base_url_choice": account.base_url if documented else CUSTOM_BASE_URL,
                    "custom_base_url": "" if documented else account.base_url,
                    "rate_limits": json.dumps(account.rate_limits) if account.rate_limits else "",
                    "price_per_minute": account.price_per_minute,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["price_per_minute"].label = f"Price per minute ({settings.CALLOPS_CURRENCY})"
        if account is not None:
            # The key changes only through rotation (tested first); the kind never changes.
            del self.fields["api_key"]
            self.fields["kind"].disabled = True
            self.fields["webhook_secret"].label = "New webhook secret"
            self.fields["webhook_secret"].help_text = "Leave empty to keep the current one" + (
                " (one is set)." if account.webhook_secret_encrypted else " (none is set)."
            )
            self.fields["clear_webhook_secret"] = forms.BooleanField(
                label="Remove the webhook secret", required=False
            )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = VendorAccount.objects.filter(name=name)
        if self.account is not None:
            taken = taken.exclude(pk=self.account.pk)
        if taken.exists():
            raise forms.ValidationError("Another vendor connection has this name.")
        return name

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"].strip()
        if not key:
            raise forms.ValidationError("Enter the API key.")
        return key

    def clean_rate_limits(self) -> dict[str, Any]:
        raw = self.cleaned_data["rate_limits"].strip()
        if not raw:
            return {}
        value = parse_json_form_text(raw)
        if not isinstance(value, dict):
            raise forms.ValidationError('Give a JSON object, e.g. {"default": 100}.')
        try:
            configured_limits(VendorAccount(kind=VendorKind.REVRAG, rate_limits=value))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        choice = data.get("base_url_choice")
        if choice == CUSTOM_BASE_URL:
            if not data.get("custom_base_url") and "custom_base_url" not in self.errors:
                self.add_error("custom_base_url", "Enter the custom base URL.")
            data["base_url"] = data.get("custom_base_url", "")
        elif choice:
            if kind and documented_kind_of(choice) != kind:
                self.add_error("base_url_choice", "This URL is not one of this vendor's.")
            data["base_url"] = choice
        return data

    @property
    def webhook_secret_change(self) -> str | None:
        """For an edit: the new secret, "" to remove it, None to keep it."""
        if self.cleaned_data.get("clear_webhook_secret"):
            return ""
        return self.cleaned_data.get("webhook_secret") or None


class RotateKeyForm(forms.Form):
    new_key = forms.CharField(
        label="New API key",
        widget=SecretInput(),
        max_length=500,
        help_text="Tested with the vendor first; the current key stays until the new one works.",
    )

    def clean_new_key(self) -> str:
        key = self.cleaned_data["new_key"].strip()
        if not key:
            raise forms.ValidationError("Enter the new API key.")
        return key


class RoleField(forms.TypedChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=ROLE_CHOICES, coerce=Role, **kwargs)


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Letters, digits and @/./+/-/_ only.")
    email = forms.EmailField(required=False)
    role = RoleField(initial=Role.OPERATOR.value)
    password1 = forms.CharField(
        label="Initial password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        help_text="Checked by the password rules: long enough, not common, not only digits.",
    )
    password2 = forms.CharField(
        label="Initial password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        user_model = get_user_model()
        user_model.username_validator(username)
        if user_model.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this username exists.")
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            probe = get_user_model()(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(first, user=probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class UserRoleForm(forms.Form):
    role = RoleField()


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who or what uses it, e.g. “CRM sync”.")
    role = RoleField(
        initial=Role.OPERATOR.value, help_text="The token acts with this role's permissions."
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the token stops working at the end of this day.",
    )

    def clean_expires_on(self) -> Any:
        day = self.cleaned_data.get("expires_on")
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("Choose today or a later day.")
        return day

    @property
    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.combine(day, time.max))


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(choices=[("", "Any action"), *AuditAction.choices], required=False)
    actor = forms.CharField(label="Who", required=False, max_length=150)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        return {key: value for key, value in self.cleaned_data.items() if value}


class VendorLimitsForm(forms.Form):
    """The circuit breaker and live-call limit of one vendor connection."""

    breaker_failure_threshold = forms.IntegerField(
        label="Failures that open the breaker",
        min_value=1,
        max_value=100,
        help_text="Transport errors, timeouts or 5xx answers in a row (one 503 opens it at once).",
    )
    breaker_cooldown_seconds = forms.IntegerField(
        label="Cool-down (seconds)",
        min_value=1,
        max_value=3600,
        help_text="How long the breaker stays open before one probe request may go.",
    )
    max_live_calls = forms.IntegerField(
        label="Most live calls at once",
        required=False,
        min_value=1,
        max_value=10000,
        help_text="Calls of this connection ringing or in conversation at once; empty for no "
        "limit of its own.",
    )
