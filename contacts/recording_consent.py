"""Places where every party to a call must consent to its recording ("all-party consent"), so a
campaign may require a recording-disclosure variable for the contacts there.

**Counsel must check this table.** It is drawn from public summaries of US state wiretap laws
and may be out of date or incomplete; several states have nuances (Michigan's courts differ on
whether a participant may record; Nevada's rule is for telephone calls; Oregon's is for
in-person conversations, its telephone rule is one-party). The shipped table leans strict: a
contact counted here only gets a disclosure it may not strictly need. Countries: only those
whose criminal law forbids recording a call without every party's consent, from the same kind
of public summaries; most countries' data-protection laws add their own duties of notice,
which this table does not decide.
"""

from __future__ import annotations

from contacts.compliance import place_of

# Key: "US-<state>" or an ISO country; value: the name people read.
ALL_PARTY_CONSENT_PLACES: dict[str, str] = {
    "US-CA": "California",
    "US-DE": "Delaware",
    "US-FL": "Florida",
    "US-IL": "Illinois",
    "US-MD": "Maryland",
    "US-MA": "Massachusetts",
    "US-MI": "Michigan",
    "US-MT": "Montana",
    "US-NV": "Nevada",
    "US-NH": "New Hampshire",
    "US-OR": "Oregon",
    "US-PA": "Pennsylvania",
    "US-WA": "Washington",
    "DE": "Germany",
}

COUNSEL_NOTE = (
    "The all-party-consent places are starting values from public summaries, not legal advice: "
    "have your counsel check them."
)


def all_party_consent_place(phone_e164: str) -> str:
    """The name of the all-party-consent place the number rings in ("" when none).

    Decided from the number (its US state by area code, else its country), not from the
    contact's time zone: a time zone spans several states with different laws.
    """
    if phone_e164.startswith("+1") and len(phone_e164) == 12:
        # A North American area code lies in one state: geocoding one number of it answers
        # for all (geocoding each number costs ~0.3 ms; a campaign page shows thousands).
        area_code = phone_e164[:5]
        if area_code not in _AREA_CODE_PLACES:
            _AREA_CODE_PLACES[area_code] = _number_place(phone_e164)
        return _AREA_CODE_PLACES[area_code]
    return _number_place(phone_e164)


# Area code ("+1415") -> place name; at most 1,000 keys.
_AREA_CODE_PLACES: dict[str, str] = {}


def _number_place(phone_e164: str) -> str:
    place = place_of(phone_e164)
    if place.subdivision:
        name = ALL_PARTY_CONSENT_PLACES.get(f"{place.country}-{place.subdivision}")
        if name:
            return name
    return ALL_PARTY_CONSENT_PLACES.get(place.country, "")
