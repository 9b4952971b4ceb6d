"""Placeholders in texts people write: `Hi {{ contact.name }}, about {{ call.variables.plan }}`.

Deliberately not Django's template language: a message template reaches only the plain values
listed here, copied into dicts before rendering, so `{{ contact.__class__ }}` or
`{{ call.vendor_account.api_key_encrypted }}` cannot name anything. There are no filters, tags
or loops; `{% ... %}` is plain text. Output is plain text, not HTML: "O'Brien & Sons" stays as
written (the vendor sends it as text), and nothing is escaped or interpreted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A root name, then dotted keys (a metadata key may start with a digit: "2fa").
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
# Anything between braces, to refuse what is not a well-formed placeholder.
_ANY_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class TemplateError(ValueError):
    """A template that names something it may not; the message says what it may name."""


@dataclass(frozen=True)
class TemplateFields:
    """What a kind of template may name: fixed fields per root, and open objects (any key)."""

    fields: Mapping[str, tuple[str, ...]]
    open_objects: Mapping[str, tuple[str, ...]]
    # How a refused placeholder is described: "{{ x }} is not <what>; use one of …".
    what: str = "something a message can use"

    def allowed(self) -> list[str]:
        names = [f"{root}.{name}" for root, names in self.fields.items() for name in names]
        names += [
            f"{root}.{name}.KEY" for root, names in self.open_objects.items() for name in names
        ]
        return names

    def check_path(self, path: str) -> None:
        parts = path.split(".")
        root, rest = parts[0], parts[1:]
        if len(rest) == 1 and rest[0] in self.fields.get(root, ()):
            return
        if len(rest) == 2 and rest[0] in self.open_objects.get(root, ()):
            return
        if len(rest) == 1 and rest[0] in self.open_objects.get(root, ()):
            raise TemplateError(f"Name a key of {root}.{rest[0]}, as {{{{ {path}.KEY }}}}.")
        raise TemplateError(
            f"{{{{ {path} }}}} is not {self.what}; use one of "
            + ", ".join("{{ " + name + " }}" for name in self.allowed())
            + "."
        )


# The contact fields every template may name (follow-up messages and campaign variables);
# phone_e164 is the same number as phone, kept for the templates written with it.
CONTACT_FIELDS = ("name", "first_name", "email", "phone", "phone_e164", "linkedin_url", "time_zone")

# What follow-up messages may use: the contact and the call, nothing else.
MESSAGE_FIELDS = TemplateFields(
    fields={
        "contact": CONTACT_FIELDS,
        "call": (
            "id",
            "to_number",
            "outcome",
            "vendor_outcome",
            "summary",
            "duration_seconds",
            "started_at",
            "agent",
            "campaign",
        ),
    },
    open_objects={
        "contact": ("metadata",),
        "call": ("variables", "extracted", "metadata"),
    },
)


def check_template(text: str, fields: TemplateFields = MESSAGE_FIELDS) -> str:
    """The template as saved; raises TemplateError naming the first placeholder it refuses."""
    for match in _ANY_PLACEHOLDER.finditer(text):
        placeholder = _PLACEHOLDER.fullmatch(match.group(0))
        if placeholder is None:
            raise TemplateError(
                f"{match.group(0)} is not a placeholder; write names like {{{{ contact.name }}}}."
            )
        fields.check_path(placeholder.group(1))
    return text


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def render(text: str, context: Mapping[str, Mapping[str, Any]]) -> str:
    """Fill each placeholder from `context` (plain dicts); a missing key becomes empty text.

    Only dict lookups happen, never attribute access, so the context is the whole sandbox.
    """

    def fill(match: re.Match[str]) -> str:
        value: Any = context
        for part in match.group(1).split("."):
            if not isinstance(value, Mapping):
                return ""
            value = value.get(part)
        return _as_text(value)

    return _PLACEHOLDER.sub(fill, text)


def contact_context(contact: Any, *, phone: str = "") -> dict[str, Any]:
    """The values of CONTACT_FIELDS (and metadata) copied from a contact; without a contact,
    only the number called."""
    name = (contact.name if contact else "") or ""
    number = contact.phone_e164 if contact else phone
    return {
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "email": (contact.email if contact else "") or "",
        "phone": number,
        "phone_e164": number,
        "linkedin_url": (contact.linkedin_url if contact else "") or "",
        "time_zone": (contact.time_zone if contact else "") or "",
        "metadata": (
            dict(contact.metadata) if contact and isinstance(contact.metadata, dict) else {}
        ),
    }


def message_context(call: Any) -> dict[str, dict[str, Any]]:
    """The values a follow-up message may use, copied from a call and its contact."""
    return {
        "contact": contact_context(call.contact, phone=call.to_number),
        "call": {
            "id": call.pk,
            "to_number": call.to_number,
            "outcome": call.get_common_outcome_display() if call.common_outcome else "",
            "vendor_outcome": call.vendor_outcome,
            "summary": call.summary,
            "duration_seconds": call.duration_seconds,
            "started_at": call.started_at.isoformat() if call.started_at else "",
            "agent": call.agent.name if call.agent_id and call.agent else "",
            "campaign": call.campaign.name if call.campaign_id and call.campaign else "",
            "variables": dict(call.variables) if isinstance(call.variables, dict) else {},
            "extracted": (
                dict(call.extracted_variables) if isinstance(call.extracted_variables, dict) else {}
            ),
            "metadata": dict(call.metadata) if isinstance(call.metadata, dict) else {},
        },
    }
