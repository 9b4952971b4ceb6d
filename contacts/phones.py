"""Phone numbers: parse what people type into E.164, or say precisely why not.

The time zone of a number is derived only when the number tells it unambiguously (a US 415
number is America/Los_Angeles; a toll-free or mobile range spanning several zones gives no
zone): a wrong zone would move a calling window, an empty one makes the caller ask.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult
from phonenumbers import timezone as phone_timezone

_UNKNOWN_ZONE = "Etc/Unknown"

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
}


@dataclass(frozen=True, slots=True)
class PhoneResult:
    e164: str
    time_zone: str


class PhoneError(ValueError):
    """A number that cannot be called; `reason` is short and shown to people as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def settings_region() -> str:
    return (getattr(settings, "CALLOPS_DEFAULT_REGION", None) or "US").upper()


def normalize_phone(raw: str, *, default_region: str | None = None) -> PhoneResult:
    """The E.164 form of `raw` and its time zone, or PhoneError with the reason.

    A number without a leading + (or 00 / 011 international prefix) is read in `default_region`
    (settings.CALLOPS_DEFAULT_REGION when not given).
    """
    region = (default_region or settings_region()).upper()
    text = (raw or "").strip()
    if not text:
        raise PhoneError("missing phone number")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a phone number")
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not text.startswith("+"):
            reason = f"unknown country code (no + and no valid default region {region})"
        raise PhoneError(reason) from None
    # The number's type is what is_valid_number and time_zones_for_number both compute (the
    # costly pattern matching): computed once here, it answers both (tests/contacts/
    # test_phones.py checks the equivalence). A valid number is always of a possible length,
    # so the length is looked at only to say why a number is not valid.
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise PhoneError(_invalid_reason(number))
    zones = time_zones_of(number, number_type)
    zone = zones[0] if len(zones) == 1 and zones[0] != _UNKNOWN_ZONE else ""
    return PhoneResult(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164), time_zone=zone
    )


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    possible = phonenumbers.is_possible_number_with_reason(number)
    number_region = phonenumbers.region_code_for_country_code(number.country_code)
    if number_region in ("ZZ", "001"):
        number_region = f"+{number.country_code}"
    if possible in _POSSIBLE_REASONS:
        return _POSSIBLE_REASONS[possible]
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        return f"invalid length for region {number_region}"
    return f"not a valid number for region {number_region}"


def time_zones_of(number: phonenumbers.PhoneNumber, number_type: int) -> tuple[str, ...]:
    """phonenumbers.timezone.time_zones_for_number for a valid number whose type is known."""
    if not phonenumbers.is_number_type_geographical(number_type, number.country_code):
        return tuple(phone_timezone._country_level_time_zones_for_number(number))
    return tuple(phone_timezone.time_zones_for_geographical_number(number))


class PhoneNormalizer:
    """normalize_phone with a memory: an import that repeats a number parses it once."""

    def __init__(self, *, default_region: str | None = None) -> None:
        self.default_region = (default_region or settings_region()).upper()
        self._cache: dict[str, PhoneResult | PhoneError] = {}

    def __call__(self, raw: str) -> PhoneResult:
        found = self._cache.get(raw)
        if found is None:
            try:
                found = normalize_phone(raw, default_region=self.default_region)
            except PhoneError as exc:
                found = exc
            self._cache[raw] = found
        if isinstance(found, PhoneError):
            raise found
        return found
