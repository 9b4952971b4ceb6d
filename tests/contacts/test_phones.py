from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from phonenumbers import timezone as phone_timezone

from contacts.phones import (
    PhoneError,
    PhoneNormalizer,
    PhoneResult,
    normalize_phone,
    time_zones_of,
)


@pytest.mark.parametrize(
    ("raw", "e164", "zone"),
    [
        ("(415) 555-2671", "+14155552671", "America/Los_Angeles"),
        ("+1 415-555-2671", "+14155552671", "America/Los_Angeles"),
        ("  415.555.2671 ", "+14155552671", "America/Los_Angeles"),
        ("011 44 20 7946 0958", "+442079460958", "Europe/London"),
        ("+33 6 12 34 56 78", "+33612345678", "Europe/Paris"),
        # Toll-free numbers span every US zone: no zone rather than a wrong one.
        ("800 555 1212", "+18005551212", ""),
    ],
)
def test_it_normalizes_numbers_and_derives_the_time_zone(raw, e164, zone):
    assert normalize_phone(raw, default_region="US") == PhoneResult(e164=e164, time_zone=zone)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "missing phone number"),
        ("   ", "missing phone number"),
        ("abc", "not a phone number"),
        ("123", "too short"),
        ("4155552671123456789", "too long"),
        ("+1 555 0100", "not a valid number for region US"),
        ("+999 123456", "unknown country code"),
    ],
)
def test_it_refuses_numbers_with_the_reason(raw, reason):
    with pytest.raises(PhoneError) as caught:
        normalize_phone(raw, default_region="US")
    assert caught.value.reason == reason


def test_it_reads_local_numbers_in_the_default_region(settings):
    settings.CALLOPS_DEFAULT_REGION = "GB"
    assert normalize_phone("020 7946 0958").e164 == "+442079460958"
    assert normalize_phone("06 12 34 56 78", default_region="FR").e164 == "+33612345678"


def test_it_parses_a_repeated_number_once(monkeypatch):
    from contacts import phones

    calls = []
    real = phones.normalize_phone

    def counting(raw, *, default_region=None):
        calls.append(raw)
        return real(raw, default_region=default_region)

    monkeypatch.setattr(phones, "normalize_phone", counting)
    normalizer = PhoneNormalizer(default_region="US")
    for _ in range(3):
        assert normalizer("(415) 555-2671").e164 == "+14155552671"
        with pytest.raises(PhoneError, match="too short"):
            normalizer("123")
    assert calls == ["(415) 555-2671", "123"]


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    region=st.sampled_from(["US", "CA", "GB", "FR", "IN", "AU", "DE", "BR", "JP", "IM", "001"]),
    digits=st.text(alphabet="0123456789", min_size=3, max_size=15),
    plus=st.booleans(),
)
def test_it_decides_validity_and_time_zone_as_phonenumbers_does(region, digits, plus):
    """normalize_phone computes a number's type once for both answers: they must be the ones
    phonenumbers.is_valid_number and time_zones_for_number give."""
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, region)
    except phonenumbers.NumberParseException:
        return
    number_type = phonenumbers.number_type(number)
    valid = number_type != phonenumbers.PhoneNumberType.UNKNOWN
    assert valid == phonenumbers.is_valid_number(number)
    if valid:
        expected = tuple(phone_timezone.time_zones_for_number(number))
        assert time_zones_of(number, number_type) == expected


@pytest.mark.parametrize(
    "raw", ["+1 800 555 1212", "+44 7400 123456", "+800 1234 5678", "+61 2 9374 4000", "+91 98"]
)
def test_it_gives_the_library_s_zones_for_numbers_of_every_kind(raw):
    number = phonenumbers.parse(raw, "US")
    number_type = phonenumbers.number_type(number)
    if number_type != phonenumbers.PhoneNumberType.UNKNOWN:
        assert time_zones_of(number, number_type) == tuple(
            phone_timezone.time_zones_for_number(number)
        )
