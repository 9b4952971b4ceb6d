"""Phone numbers: parse what people type into E.164, or say precisely why not.

The time zone of a number is derived only when the number tells it unambiguously (a US 415
number is America/Los_Angeles; a toll-free or mobile range spanning several zones gives no
zone): a wrong zone would move a calling window, an empty one makes the caller ask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import (
    NumberParseException,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
    phonenumberutil,
)
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.re_util import re_compile

try:
    # The function number_type itself calls; private, so a release may rename it. Without it,
    # numbers are typed through the public number_type: the same answers, a little slower.
    from phonenumbers.phonenumberutil import _number_type_helper
except ImportError:  # pragma: no cover - depends on the installed phonenumbers
    _number_type_helper = None

_UNKNOWN_ZONE = phone_timezone.UNKNOWN_TIMEZONE
_UNKNOWN_ZONES = (_UNKNOWN_ZONE,)

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
    number_type = number_type_of(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise PhoneError(_invalid_reason(number))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    zone = time_zone_of(number, number_type, e164)
    return PhoneResult(e164=e164, time_zone=zone)


def number_type_of(number: phonenumbers.PhoneNumber) -> int:
    """phonenumbers.number_type, matching the number against its region's patterns once.

    number_type first finds the number's region; for a country code shared by several regions
    (+1: US, CA, the Caribbean) that means typing the number against each region in turn until
    one knows it, and then number_type types it again against the region found. Here the type
    found while looking for the region is kept: the same function on the same metadata.
    """
    if _number_type_helper is None:
        return phonenumbers.number_type(number)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code)
    if regions is None:
        return PhoneNumberType.UNKNOWN  # no region: number_type finds no metadata either
    national_number = phonenumbers.national_significant_number(number)
    if len(regions) > 1:
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if re_compile(metadata.leading_digits).match(national_number):
                    return _type_in_region(national_number, number.country_code, region)
            else:
                found = _number_type_helper(national_number, metadata)
                if found != PhoneNumberType.UNKNOWN:
                    return found
        return PhoneNumberType.UNKNOWN
    return _type_in_region(national_number, number.country_code, regions[0])


def _type_in_region(national_number: str, country_code: int, region: str) -> int:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return PhoneNumberType.UNKNOWN
    return _number_type_helper(national_number, metadata)


def time_zone_of(number: phonenumbers.PhoneNumber, number_type: int, e164: str) -> str:
    """The number's time zone when phonenumbers.timezone.time_zones_for_number gives exactly
    one, else "", for a valid number of a known type and its E.164 form."""
    if not phonenumbers.is_number_type_geographical(number_type, number.country_code):
        return _zone_of_country(number.country_code)
    digits = e164[1:]
    return _zone_of_prefix(digits[: _ZONE_KEY_DIGITS.get(digits[:1], 0)])


# time_zones_for_geographical_number looks up the longest prefix of the E.164 digits that its
# table knows. No key is longer than the longest one starting with the same digit (7 for +1:
# area code and exchange), so those first digits decide the answer: looked up once each.
def _longest_zone_keys() -> dict[str, int]:
    longest: dict[str, int] = {}
    for key in phone_timezone.TIMEZONE_DATA:
        longest[key[:1]] = max(len(key), longest.get(key[:1], 0))
    return longest


_ZONE_KEY_DIGITS = _longest_zone_keys()


@lru_cache(maxsize=65536)
def _zone_of_prefix(digits: str) -> str:
    for length in range(len(digits), 0, -1):
        zones = phone_timezone.TIMEZONE_DATA.get(digits[:length])
        if zones is not None:
            return _single_zone(zones)
    return _single_zone(_UNKNOWN_ZONES)


def _zone_of_country(country_code: int) -> str:
    # phonenumbers looks a non-geographical number up by the longest known prefix of its
    # country code: the same lookup as a geographical one, on fewer digits.
    return _zone_of_prefix(str(country_code))


def _single_zone(zones: Sequence[str]) -> str:
    # Several zones (a toll-free range, a whole country) or none known: no zone, rather than a
    # wrong one.
    return zones[0] if len(zones) == 1 and zones[0] != _UNKNOWN_ZONE else ""


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


def keep_compiled_phone_patterns() -> None:
    """Makes phonenumbers keep every pattern it compiles (a few hundred, from its metadata).

    By default it hands each pattern string to re.compile on every use, whose own cache
    lookup costs about a fifth of checking a number; an import checks a million. Older
    phonenumbers releases have no such switch and stay as they are.
    """
    enable = getattr(phonenumbers, "enable_pattern_cache", None)
    if enable is not None:
        enable()


_NOT_ASCII_DIGITS = re.compile(r"[^0-9]+")
_library_normalize_digits_only = phonenumberutil.normalize_digits_only


def _normalize_digits_only(number: str, keep_non_digits: bool = False) -> str:
    # The library's version looks every character up in its Unicode digit table, one Python
    # call each. Among ASCII characters only 0-9 are digits (each its own value): one regex
    # substitution gives the same string. Anything else goes through the library.
    if number.isascii():
        return number if keep_non_digits else _NOT_ASCII_DIGITS.sub("", number)
    return _library_normalize_digits_only(number, keep_non_digits)


def normalize_ascii_digits_fast() -> None:
    """Makes phonenumbers strip an ASCII number to its digits in one regex substitution.

    parse() strips each number to its digits two or three times, a Python call per character:
    about a sixth of checking a number. The replacement gives the same strings (tests/contacts/
    test_phones.py compares them); only an import's worker processes switch it on.
    """
    phonenumberutil.normalize_digits_only = _normalize_digits_only


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
