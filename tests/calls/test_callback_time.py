"""Reading the time a callee asked to be called back at: common English and Spanish phrases,
relative to the call's end in the contact's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from calls.callback_time import (
    asks_by_variables,
    asks_for_callback,
    callback_request_in,
    parse_callback_time,
)

NEW_YORK = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")
# Thursday 3 December 2026, 17:30 in New York (22:30 UTC).
ENDED = datetime(2026, 12, 3, 22, 30, tzinfo=UTC)


def _local(text: str, zone: ZoneInfo = NEW_YORK) -> str | None:
    found = parse_callback_time(text, after=ENDED, zone=zone)
    return None if found is None else found.strftime("%a %d %H:%M")


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("tomorrow", "Fri 04 17:30"),  # a day without a time keeps the call's local time
        ("tomorrow afternoon", "Fri 04 15:00"),
        ("Call me back tomorrow afternoon", "Fri 04 15:00"),
        ("tomorrow morning", "Fri 04 10:00"),
        ("tomorrow evening", "Fri 04 18:00"),
        ("tomorrow at 3pm", "Fri 04 15:00"),
        ("tomorrow 15:00", "Fri 04 15:00"),
        ("at noon tomorrow", "Fri 04 12:00"),
        ("in 2 hours", "Thu 03 19:30"),
        ("in two hours", "Thu 03 19:30"),
        ("in an hour", "Thu 03 18:30"),
        ("in half an hour", "Thu 03 18:00"),
        ("in 45 minutes", "Thu 03 18:15"),
        ("at 3pm", "Fri 04 15:00"),  # passed today: tomorrow's
        ("at 7:45 pm", "Thu 03 19:45"),
        ("tonight at 8", "Thu 03 20:00"),
        ("this evening", "Thu 03 18:00"),
        ("on Monday", "Mon 07 17:30"),
        ("Monday at 9am", "Mon 07 09:00"),
        ("thursday", "Thu 10 17:30"),  # said on a Thursday: next week's
        ("friday at 11:30am", "Fri 04 11:30"),
        ("next week", "Mon 07 17:30"),
        ("the day after tomorrow at 9", "Sat 05 09:00"),
        ("December 5 at 10am", "Sat 05 10:00"),
        ("2026-12-05 15:00", "Sat 05 15:00"),
    ],
)
def test_it_reads_common_english_phrases(said, expected):
    assert _local(said) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Llámame mañana", "Fri 04 17:30"),
        ("llámame mañana por la tarde", "Fri 04 15:00"),
        ("mañana por la mañana", "Fri 04 10:00"),
        ("en 2 horas", "Thu 03 19:30"),
        ("en dos horas", "Thu 03 19:30"),
        ("en media hora", "Thu 03 18:00"),
        ("a las 3 de la tarde", "Fri 04 15:00"),
        ("el lunes", "Mon 07 17:30"),
        ("el miércoles a las 10", "Wed 09 10:00"),
        ("la próxima semana", "Mon 07 17:30"),
        ("pasado mañana", "Sat 05 17:30"),
        ("esta noche", "Thu 03 18:00"),
    ],
)
def test_it_reads_common_spanish_phrases(said, expected):
    assert _local(said) == expected


def test_it_reads_the_time_in_the_contacts_zone():
    # 22:30 UTC is already 23:30 in Madrid: "tomorrow afternoon" is Friday 15:00 there.
    found = parse_callback_time("tomorrow afternoon", after=ENDED, zone=MADRID)
    assert found == datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
    # And across a daylight-saving change: 24 h later in wall-clock time, not 24 h of clock.
    before_change = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # Saturday 12:00 in New York
    sunday = parse_callback_time("tomorrow", after=before_change, zone=NEW_YORK)
    assert sunday is not None and sunday.astimezone(NEW_YORK).hour == 12
    assert sunday - before_change == datetime(2026, 3, 8, 16, 0, tzinfo=UTC) - before_change


@pytest.mark.parametrize(
    "said",
    ["", "   ", "call me later", "some other time", "I have 2 kids", "5 de diciembre a las 10"],
)
def test_it_names_no_time_for_vague_or_misread_phrases(said):
    # "5 de diciembre a las 10": dateparser reads it as a year ahead of 2100; refused.
    assert _local(said) is None


def test_it_finds_the_callees_request_and_the_time_in_their_next_turn():
    transcript = [
        {"speaker": "agent", "text": "Is now a good time? I can call you back."},
        {"speaker": "user", "text": "Not really, can you call me back?"},
        {"speaker": "agent", "text": "Of course, when suits you?"},
        {"speaker": "user", "text": "Tomorrow afternoon."},
    ]
    said = callback_request_in(transcript)
    assert said == "Not really, can you call me back? Tomorrow afternoon."
    assert _local(said) == "Fri 04 15:00"


def test_it_hears_a_request_only_from_the_callee():
    agent_only = [{"speaker": "agent", "text": "I will call you back tomorrow."}]
    assert callback_request_in(agent_only) == ""
    assert callback_request_in("not a transcript") == ""
    assert asks_for_callback("¿Puede volver a llamar el lunes?")
    assert not asks_for_callback("Thanks, bye")


def test_it_reads_an_extracted_callback_time_only_when_it_holds_one():
    assert asks_by_variables({"callback_time": "tomorrow 15:00"})
    assert asks_by_variables({"preferred_callback_time": "Monday"})
    assert not asks_by_variables({"callback_time": None, "preferred_callback_time": "none"})
    assert not asks_by_variables(["callback_time"])


def test_it_reads_a_long_or_hostile_text_without_failing():
    assert _local("call me back " + "blah " * 5000) is None
    assert _local("\x00\ud800 tomorrow at 3pm") == "Fri 04 15:00"
