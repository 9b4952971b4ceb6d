"""Rows of the campaign form: retry rules and per-contact variables as visible controls.

Each row is a few plain fields named `<kind>_<field>_<n>`, so the page needs no JavaScript and
no JSON; these helpers add the fields, fill them from stored values and read them back into
the formats the dispatcher already reads (retry rules keyed by outcome, a variables template).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from calls.models import CommonOutcome
from calls.templating import TemplateError
from campaigns.schedule import NEVER_RETRIED, check_retry_rules, check_template, common_retry_rules
from contacts.selectors import contact_metadata_keys

RETRY_ROWS = 4
VARIABLE_ROWS = 4
MINUTES_PER_UNIT = {"minutes": 1, "hours": 60}
RETRY_OUTCOMES = [
    ("", "—"),
    *((value, label) for value, label in CommonOutcome.choices if value not in NEVER_RETRIED),
]
# What a variable can be filled from; "" means the row's own text (which may hold placeholders).
CONTACT_SOURCES = [
    ("", "Text below"),
    ("name", "Contact's name"),
    ("first_name", "Contact's first name"),
    ("phone_e164", "Contact's number"),
    ("email", "Contact's email"),
    ("linkedin_url", "Contact's LinkedIn URL"),
    ("time_zone", "Contact's time zone"),
]
_METADATA = "metadata."
# A stored value that is exactly one placeholder of a contact field or metadata key.
_SOURCE_PLACEHOLDER = re.compile(r"\{\{ contact\.((?:metadata\.)?[A-Za-z0-9_-]+) \}\}")


def _source_choices(form: forms.Form) -> list[tuple[str, str]]:
    """The fixed contact fields, then the extra-data keys contacts have (and any the form
    already names, so a stored choice stays shown)."""
    keys = set(contact_metadata_keys())
    for n in range(VARIABLE_ROWS):
        for source in (form.initial.get(f"var_source_{n}"), form.data.get(f"var_source_{n}")):
            named = isinstance(source, str) and source.startswith(_METADATA)
            if named and _SOURCE_PLACEHOLDER.fullmatch(_placeholder(source)):
                keys.add(source.removeprefix(_METADATA))
    return [*CONTACT_SOURCES, *((_METADATA + key, f"Extra data: {key}") for key in sorted(keys))]


def _placeholder(source: str) -> str:
    return f"{{{{ contact.{source} }}}}"


def add_row_fields(form: forms.Form) -> None:
    sources = _source_choices(form)
    for n in range(RETRY_ROWS):
        form.fields[f"retry_outcome_{n}"] = forms.ChoiceField(
            choices=RETRY_OUTCOMES, required=False, label=f"Rule {n + 1}: when the call is"
        )
        form.fields[f"retry_after_{n}"] = forms.IntegerField(
            required=False, min_value=1, label=f"Rule {n + 1}: retry after"
        )
        form.fields[f"retry_unit_{n}"] = forms.ChoiceField(
            choices=[("minutes", "minutes"), ("hours", "hours")],
            required=False,
            label=f"Rule {n + 1}: minutes or hours",
        )
        form.fields[f"retry_attempts_{n}"] = forms.IntegerField(
            required=False, min_value=1, max_value=10, label=f"Rule {n + 1}: attempts in all"
        )
    for n in range(VARIABLE_ROWS):
        form.fields[f"var_name_{n}"] = forms.CharField(
            required=False, max_length=100, label=f"Variable {n + 1}"
        )
        form.fields[f"var_source_{n}"] = forms.ChoiceField(
            choices=sources, required=False, label=f"Variable {n + 1} filled from"
        )
        form.fields[f"var_text_{n}"] = forms.CharField(
            required=False, max_length=500, label=f"Variable {n + 1} text"
        )


def row_initial(*, retry_rules: dict, variables_template: dict) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    rules = [(o, r) for o, r in common_retry_rules(retry_rules).items() if isinstance(r, dict)]
    for n, (outcome, rule) in enumerate(rules[:RETRY_ROWS]):
        minutes = rule["retry_after_minutes"]
        unit = "hours" if minutes % 60 == 0 else "minutes"
        initial[f"retry_outcome_{n}"] = outcome
        initial[f"retry_after_{n}"] = minutes // MINUTES_PER_UNIT[unit]
        initial[f"retry_unit_{n}"] = unit
        initial[f"retry_attempts_{n}"] = rule["max_attempts"]
    for n, (name, value) in enumerate(list((variables_template or {}).items())[:VARIABLE_ROWS]):
        initial[f"var_name_{n}"] = name
        fixed = {source for source, _label in CONTACT_SOURCES[1:]}
        picked = _SOURCE_PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
        if picked and (picked[1] in fixed or picked[1].startswith(_METADATA)):
            initial[f"var_source_{n}"] = picked[1]
        else:
            initial[f"var_text_{n}"] = value if isinstance(value, str) else str(value)
    return initial


def clean_retry_rows(form: forms.Form, data: dict[str, Any]) -> dict[str, Any]:
    """The retry rules as stored, {outcome: {retry_after_minutes, max_attempts}}; errors go on
    the row's own fields."""
    rules: dict[str, Any] = {}
    for n in range(RETRY_ROWS):
        outcome = data.get(f"retry_outcome_{n}")
        after, attempts = data.get(f"retry_after_{n}"), data.get(f"retry_attempts_{n}")
        if not outcome:
            if after or attempts:
                form.add_error(f"retry_outcome_{n}", "Choose the outcome this rule retries.")
            continue
        if outcome in rules:
            form.add_error(f"retry_outcome_{n}", "This outcome already has a rule above.")
            continue
        if after is None and f"retry_after_{n}" not in form.errors:
            form.add_error(f"retry_after_{n}", "Say how long to wait before retrying.")
        if attempts is None and f"retry_attempts_{n}" not in form.errors:
            form.add_error(f"retry_attempts_{n}", "Say how many attempts in all (1–10).")
        if after is None or attempts is None:
            continue
        minutes = after * MINUTES_PER_UNIT.get(data.get(f"retry_unit_{n}") or "minutes", 1)
        rule = {"retry_after_minutes": minutes, "max_attempts": attempts}
        try:
            check_retry_rules({outcome: rule})
        except ValueError:
            form.add_error(f"retry_after_{n}", "Wait at most 7 days (168 hours).")
            continue
        rules[outcome] = rule
    return rules


def clean_variable_rows(form: forms.Form, data: dict[str, Any]) -> dict[str, Any]:
    """The variables template as stored, {name: "text or {{ contact.field }}"}."""
    template: dict[str, Any] = {}
    for n in range(VARIABLE_ROWS):
        name = (data.get(f"var_name_{n}") or "").strip()
        source, text = data.get(f"var_source_{n}") or "", data.get(f"var_text_{n}") or ""
        if not name:
            if source or text:
                form.add_error(f"var_name_{n}", "Name this variable.")
            continue
        if name in template:
            form.add_error(f"var_name_{n}", "This name is already used above.")
            continue
        value = _placeholder(source) if source else text
        try:
            check_template({name: value})
        except TemplateError as exc:
            form.add_error(f"var_text_{n}", str(exc).removeprefix(f"{name}: "))
            continue
        template[name] = value
    return template


def retry_rows(form: forms.Form) -> list[list[forms.BoundField]]:
    return [
        [form[f"retry_{part}_{n}"] for part in ("outcome", "after", "unit", "attempts")]
        for n in range(RETRY_ROWS)
    ]


def variable_rows(form: forms.Form) -> list[list[forms.BoundField]]:
    return [
        [form[f"var_{part}_{n}"] for part in ("name", "source", "text")]
        for n in range(VARIABLE_ROWS)
    ]
