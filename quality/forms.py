"""Forms of the quality pages: a scorecard with its items, the filters of the quality figures."""

from __future__ import annotations

from typing import Any

from django import forms

from campaigns.models import Campaign
from quality.models import ItemKind, ItemSource, ThresholdDirection
from quality.scorecards import MAX_ITEMS, MAX_WEIGHT, ItemSpec
from quality.trends import GroupBy
from vendors.models import VendorAccount


class ScorecardForm(forms.Form):
    name = forms.CharField(max_length=120)
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"),
        required=False,
        empty_label="—",
        help_text="Calls of this campaign use this scorecard.",
    )
    vendor_account = forms.ModelChoiceField(
        queryset=VendorAccount.objects.order_by("name"),
        required=False,
        empty_label="—",
        help_text="Or: calls of this vendor account (outside a campaign with its own scorecard). "
        "Neither: every other call.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("campaign") and data.get("vendor_account"):
            raise forms.ValidationError("Choose a campaign or a vendor account, not both.")
        return data


class ItemForm(forms.Form):
    label = forms.CharField(max_length=120, required=False, help_text="Leave empty to drop.")
    description = forms.CharField(max_length=500, required=False)
    kind = forms.ChoiceField(choices=ItemKind.choices, initial=ItemKind.PASS_FAIL)
    weight = forms.IntegerField(min_value=1, max_value=MAX_WEIGHT, initial=1)
    allows_na = forms.BooleanField(required=False, label="N/A allowed")
    critical = forms.BooleanField(required=False, label="Critical (fails the call)")
    source = forms.ChoiceField(choices=ItemSource.choices, required=False, label="Pre-fill from")
    source_key = forms.CharField(max_length=100, required=False, label="Field")
    threshold = forms.FloatField(required=False)
    direction = forms.ChoiceField(
        choices=ThresholdDirection.choices, initial=ThresholdDirection.AT_LEAST, label="Passes"
    )

    def spec(self) -> ItemSpec:
        data = self.cleaned_data
        return ItemSpec(
            label=data["label"].strip(),
            kind=data["kind"],
            weight=data["weight"],
            description=data["description"].strip(),
            allows_na=data["allows_na"],
            critical=data["critical"],
            source=data["source"] or "",
            source_key=data["source_key"].strip(),
            threshold=data["threshold"],
            direction=data["direction"],
        )


ItemFormSet = forms.formset_factory(ItemForm, extra=3, max_num=MAX_ITEMS, validate_max=True)


class QualityFiltersForm(forms.Form):
    group_by = forms.ChoiceField(choices=GroupBy.CHOICES, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
