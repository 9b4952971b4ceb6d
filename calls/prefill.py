"""What the new-call form can fill in by itself: an agent's variables from a contact, and how
a number typed without + was read."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from calls.models import Agent
from contacts.models import Contact
from contacts.phones import PhoneError, normalize_phone, settings_region

# Variable names (lower case, letters and digits only) that mean a contact's own field, as
# agents name them: Revrag's seeded agents take `customer_name`, the voice platform `name`.
_FULL_NAME = {"name", "fullname", "customername", "contactname", "leadname", "callee"}
_FIRST_NAME = {"firstname", "customerfirstname", "givenname"}
_LAST_NAME = {"lastname", "customerlastname", "surname", "familyname"}
_EMAIL = {"email", "emailaddress", "customeremail"}
_PHONE = {"phone", "phonenumber", "number", "mobile", "customerphone"}
_LINKEDIN = {"linkedin", "linkedinurl"}
_TIME_ZONE = {"timezone", "tz"}


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def declared_variables(agent: Agent | None) -> list[dict[str, str]]:
    """The agent's declared variables as {"name", "default"}, names stripped, each once."""
    found: list[dict[str, str]] = []
    seen: set[str] = set()
    declared = agent.variables if agent is not None and isinstance(agent.variables, list) else []
    for item in declared:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name") or "").strip()
        if not name or name in seen:
            continue
        seen.add(name)
        default = item.get("default_value")
        found.append({"name": name, "default": "" if default is None else str(default)})
    return found


def contact_value(contact: Contact, variable: str) -> str:
    """The contact's value for a variable of that name, "" when the contact has none.

    A metadata key of the same name wins (an import's `plan` column fills `plan`); then the
    contact's own fields under the names agents usually give them.
    """
    metadata = contact.metadata if isinstance(contact.metadata, dict) else {}
    plain = _plain(variable)
    for key in (variable, *(key for key in metadata if _plain(str(key)) == plain)):
        value = metadata.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            return str(value)
    words = (contact.name or "").split()
    fields: list[tuple[set[str], str]] = [
        (_FULL_NAME, contact.name or ""),
        (_FIRST_NAME, words[0] if words else ""),
        (_LAST_NAME, " ".join(words[1:])),
        (_EMAIL, contact.email or ""),
        (_PHONE, contact.phone_e164 or ""),
        (_LINKEDIN, contact.linkedin_url or ""),
        (_TIME_ZONE, contact.time_zone or ""),
    ]
    for names, value in fields:
        if plain in names:
            return value
    return ""


def variables_for(agent: Agent | None, contact: Contact | None) -> dict[str, str]:
    """Each declared variable of the agent with the contact's value for it ("" for none)."""
    return {
        variable["name"]: contact_value(contact, variable["name"]) if contact else ""
        for variable in declared_variables(agent)
    }


def refill_rows(
    rows: list[tuple[str, str]], *, previous: dict[str, str], current: dict[str, str]
) -> list[tuple[str, str]]:
    """The key/value rows after the agent or contact changed.

    A row still holding what the previous choice put there (or nothing) takes the new value;
    a value the operator typed stays. Rows of variables only the previous agent declared go
    when untouched; every variable the current agent declares gets a row.
    """
    kept: list[tuple[str, str]] = []
    present: set[str] = set()
    for key, value in rows:
        name = key.strip()
        untouched = value == "" or (name in previous and value == previous[name])
        if name in current:
            present.add(name)
            kept.append((key, current[name] if untouched else value))
        elif name in previous and untouched:
            continue
        else:
            kept.append((key, value))
    kept += [(name, value) for name, value in current.items() if name not in present]
    return kept


def region_number(region: str) -> str:
    """ "a US number", "an FR number" (the region is said letter by letter)."""
    article = "an" if region[:1] in "AEFHILMNORSX" else "a"
    return f"{article} {region} number"


def number_reading(raw: str) -> str:
    """How a number typed without + was read: "Read as a US number: +1 415 555 0101".

    "" for an empty number or one written with + (nothing was assumed).
    """
    text = (raw or "").strip()
    if not text or text.startswith("+"):
        return ""
    region = settings_region()
    try:
        e164 = normalize_phone(text, default_region=region).e164
    except PhoneError as exc:
        return f"Not {region_number(region)}: {exc.reason}."
    parsed = _parse_keeping_source(text, region)
    shown = phonenumbers.format_number(
        phonenumbers.parse(e164), PhoneNumberFormat.INTERNATIONAL
    ).replace("-", " ")
    if parsed is not None and parsed.country_code_source != (
        phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
    ):
        # Dialled with an international prefix (011 44 …): the region did not decide it.
        return f"Read as {shown}"
    return f"Read as {region_number(region)}: {shown}"


def _parse_keeping_source(text: str, region: str) -> Any:
    try:
        return phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException:
        return None
