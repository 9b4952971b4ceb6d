from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from phonenumbers import timezone as phone_timezone

from contacts import phones
from contacts.phones import (
    PhoneError,
    PhoneNormalizer,
    PhoneResult,
    normalize_phone,
    number_type_of,
    time_zone_of,
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


def library_answer(number: phonenumbers.PhoneNumber) -> tuple[int, bool, str]:
    """What phonenumbers itself says: type, validity, and the zone normalize_phone keeps."""
    valid = phonenumbers.is_valid_number(number)
    zones = phone_timezone.time_zones_for_number(number)
    zone = zones[0] if valid and len(zones) == 1 and zones[0] != "Etc/Unknown" else ""
    return phonenumbers.number_type(number), valid, zone


def our_answer(number: phonenumbers.PhoneNumber) -> tuple[int, bool, str]:
    number_type = number_type_of(number)
    valid = number_type != phonenumbers.PhoneNumberType.UNKNOWN
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return number_type, valid, time_zone_of(number, number_type, e164) if valid else ""


# Regions that share a country code (+1 NANPA, +7, +39, +44, +47, +61, +212, +262, +590, +599)
# and others, and "001" for the non-geographic codes (+800, +808, +870, +882, +979, ...).
SAMPLE_REGIONS = [
    *("US", "CA", "AG", "AI", "BS", "BB", "JM", "PR", "DO", "TT", "GU", "VI", "BM", "KN"),
    *("RU", "KZ", "IT", "VA", "GB", "IM", "JE", "GG", "NO", "SJ", "AU", "CX", "CC"),
    *("MA", "EH", "RE", "YT", "GP", "BL", "MF", "CW", "BQ", "FR", "DE", "IN", "BR", "JP"),
    *("MX", "AR", "CN", "NG", "001"),
]


@hypothesis_settings(max_examples=3000, deadline=None)
@given(
    region=st.sampled_from(SAMPLE_REGIONS),
    digits=st.text(alphabet="0123456789", min_size=3, max_size=15),
    plus=st.booleans(),
)
def test_it_decides_validity_and_time_zone_as_phonenumbers_does(region, digits, plus):
    """normalize_phone types a number once for both answers (and its region with it): they
    must be the ones phonenumbers.is_valid_number and time_zones_for_number give."""
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, region)
    except phonenumbers.NumberParseException:
        return
    assert our_answer(number) == library_answer(number)


@pytest.mark.parametrize("region", SAMPLE_REGIONS)
@pytest.mark.parametrize(
    "kind",
    [
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.UAN,
    ],
)
def test_it_agrees_with_phonenumbers_on_valid_numbers_of_every_region_and_kind(region, kind):
    # Random digits are mostly invalid: the library's own examples are valid numbers of each
    # region and kind (geographic or not), and a digit changed at the end probes nearby ranges.
    if region == "001":
        examples = [
            phonenumbers.example_number_for_non_geo_entity(code)
            for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
        ]
    else:
        examples = [phonenumbers.example_number_for_type(region, kind)]
    for example in filter(None, examples):
        national = str(example.national_number)
        for last in "0123456789":
            number = phonenumbers.PhoneNumber(
                country_code=example.country_code,
                national_number=int(national[:-1] + last),
                italian_leading_zero=example.italian_leading_zero,
            )
            assert our_answer(number) == library_answer(number), number


@pytest.mark.parametrize(
    ("raw", "e164", "zone"),
    [
        ("(212) 201-0083", "+12122010083", "America/New_York"),  # US: the first +1 region
        ("+1 416 979 1234", "+14169791234", "America/Toronto"),  # CA: typed against US first
        ("+1 876 927 1234", "+18769271234", "America/Jamaica"),  # found by leading digits
        ("+1 268 460 1234", "+12684601234", "America/Antigua"),
        ("+1 787 234 5678", "+17872345678", "America/Puerto_Rico"),
        ("+1 800 555 1212", "+18005551212", ""),  # toll-free: every NANPA zone
        ("+1 999 555 1212", None, None),  # no +1 region knows it
        ("+1 555 0100", None, None),
        ("+44 1624 756789", "+441624756789", "Europe/Isle_of_Man"),  # +44 shared with GB
        ("+44 7400 123456", "+447400123456", ""),  # a mobile: four zones
        ("+7 727 123 4567", None, None),
        ("+800 1234 5678", "+80012345678", ""),  # non-geographic
        ("+882 3421 1234", None, None),
    ],
)
def test_it_normalizes_numbers_of_shared_and_non_geographic_codes_as_the_library(raw, e164, zone):
    number = phonenumbers.parse(raw, "US")
    assert our_answer(number) == library_answer(number)
    if e164 is None:
        with pytest.raises(PhoneError):
            normalize_phone(raw, default_region="US")
    else:
        assert normalize_phone(raw, default_region="US") == PhoneResult(e164=e164, time_zone=zone)


def test_it_keeps_phonenumbers_patterns_compiled_in_an_import_worker(monkeypatch):
    from phonenumbers import re_util

    from contacts.csv_import import init_worker

    monkeypatch.setattr(re_util, "_COMPILED_PATTERNS", None)  # the library's default, restored
    init_worker(["phone"], ["Phone"], "US")
    normalize_phone("+1 416 979 1234", default_region="US")
    assert re_util._COMPILED_PATTERNS  # compiled once, then reused
    assert normalize_phone("+1 416 979 1234", default_region="US").time_zone == "America/Toronto"


def test_it_types_numbers_through_the_public_api_when_the_private_helper_is_gone(monkeypatch):
    # number_type_of leans on phonenumbers' private _number_type_helper; a release without it
    # must still give the library's answers (through number_type), not fail at import.
    monkeypatch.setattr(phones, "_number_type_helper", None)
    for raw in ("(212) 201-0083", "+1 876 927 1234", "+44 1624 756789", "+800 1234 5678"):
        number = phonenumbers.parse(raw, "US")
        assert our_answer(number) == library_answer(number)
    assert normalize_phone("+1 416 979 1234") == PhoneResult("+14169791234", "America/Toronto")


@hypothesis_settings(max_examples=3000, deadline=None)
@given(
    text=st.one_of(
        st.text(alphabet="0123456789 ()-.+x#*/", max_size=20),
        st.text(max_size=20),  # any character: Arabic-Indic and full-width digits, letters
    ),
    keep_non_digits=st.booleans(),
)
def test_it_strips_numbers_to_their_digits_as_phonenumbers_does(text, keep_non_digits):
    ours = phones._normalize_digits_only(text, keep_non_digits)
    assert ours == phones._library_normalize_digits_only(text, keep_non_digits)


def test_it_strips_ascii_numbers_to_digits_in_one_pass_in_an_import_worker(monkeypatch):
    from phonenumbers import phonenumberutil

    from contacts.csv_import import init_worker

    library = phonenumberutil.normalize_digits_only
    monkeypatch.setattr(phonenumberutil, "normalize_digits_only", library)  # restored after
    init_worker(["phone"], ["Phone"], "US")
    assert phonenumberutil.normalize_digits_only is phones._normalize_digits_only
    assert normalize_phone("(415) 555-2671") == PhoneResult("+14155552671", "America/Los_Angeles")
    assert normalize_phone("+1 ٤١٥ ٥٥٥ ٢٦٧١") == PhoneResult("+14155552671", "America/Los_Angeles")
    with pytest.raises(PhoneError, match="not a valid number for region US"):
        normalize_phone("+1 555 0100")
    with pytest.raises(PhoneError, match="too short"):
        normalize_phone("123")
