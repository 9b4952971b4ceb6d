"""When a callee asked to be called back: the words that ask, and the time they name.

Pure functions (text and a clock in, an answer out), so they are tested without a database:

- `callback_request_in(transcript)`: the callee's words asking for a callback ("call me back
  tomorrow afternoon", "llámame mañana"), with the callee's next turn when the time comes
  there ("When suits you?" — "Tomorrow at 3").
- `parse_callback_time(text, after=, zone=)`: the moment those words name, read in the
  contact's time zone relative to the call's end. Common English and Spanish phrases are read
  by the small grammar below, so their meaning is fixed and tested (dateparser reads "at 3pm"
  said at 17:30 as today, in the past, and "on Monday" as midnight). Anything else (a date
  such as "December 5 at 10am" or "2026-12-05 15:00") is left to dateparser. A phrase that
  names no moment ("later", "some other time") is None: an operator sets the time.

How the grammar reads a phrase:
- a day: today/hoy, tonight/esta noche, tomorrow/mañana, the day after tomorrow/pasado
  mañana, a weekday (the next one; said on that weekday, the one a week later), next
  week/la próxima semana/la semana que viene (its Monday);
- a time of day: "at 3pm", "3:30 pm", "15:00", "a las 3", "a las 3 de la tarde", noon/
  mediodía; a bare hour 1–7 is afternoon, 8–11 morning; or a part of the day: morning/por la
  mañana 10:00, afternoon/por la tarde 15:00, evening/tonight/por la noche 18:00;
- a day without a time keeps the local time the call ended at (the callee was reachable
  then); a time without a day is today, or tomorrow once it has passed;
- "in N hours/minutes", "en N horas/minutos" (N in digits or words, "an hour", "half an
  hour", "media hora") counts from the call's end.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

AGENT_SPEAKERS = {"agent", "rep"}
# Variables an agent extracts that hold the time the callee asked for, in this order.
CALLBACK_TIME_VARIABLES = ("callback_time", "preferred_callback_time", "callback_at")
NO_VALUE = {"", "none", "null", "no", "false", "n/a"}

# Words a callee uses to ask for a callback (accents removed, lower case).
CALLBACK_CUES = (
    "call me back",
    "call back",
    "callback",
    "call me again",
    "call me later",
    "call me tomorrow",
    "call me on ",
    "call me in ",
    "call me at ",
    "call me next",
    "call me this",
    "ring me back",
    "try me again",
    "try again later",
    "llamame",
    "llameme",
    "llamenme",
    "vuelve a llamar",
    "vuelva a llamar",
    "vuelvan a llamar",
    "volver a llamar",
    "llamar mas tarde",
    "llamadme",
)
# A time further ahead than this is a misreading ("5 de diciembre a las 10" read as 2110), not
# a callback: an operator sets it.
FURTHEST = timedelta(days=92)
# What is read of a request: a time is named in a sentence or two, not in a page.
MAX_TEXT = 500
# The callee's turns after the asking one in which a time is looked for.
FOLLOWING_TURNS = 2

WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4,
    "sabado": 5, "domingo": 6,
}  # fmt: skip
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "un": 1,
    "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
}  # fmt: skip
PART_OF_DAY = {"morning": time(10), "afternoon": time(15), "evening": time(18)}

_NUMBER = r"(\d{1,3}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_IN = re.compile(
    r"\b(?:in|en|dentro de)\s+(?:(half an? hour|media hora)|" + _NUMBER + r"\s+"
    r"(hours?|hrs?|horas?|minutes?|mins?|minutos?))\b"
)
_AFTER_TOMORROW = re.compile(r"\b(?:day after tomorrow|pasado manana)\b")
# "mañana" is tomorrow unless it is the morning ("la/por la/de la mañana", "this morning").
_TOMORROW = re.compile(r"\btomorrow\b|(?<!la )(?<!esta )\bmanana\b")
_TODAY = re.compile(r"\b(?:today|hoy|this (?:morning|afternoon|evening)|esta (?:manana|tarde))\b")
_TONIGHT = re.compile(r"\b(?:tonight|esta noche)\b")
_NEXT_WEEK = re.compile(r"\b(?:next week|(?:la )?proxima semana|la semana que viene)\b")
_WEEKDAY = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")\b")
_NOON = re.compile(r"\b(?:noon|midday|mediodia)\b")
# "at 3pm", "3:30 pm", "a las 3", "a las 15:30", "15:00", "3 o'clock".
_CLOCK = re.compile(
    r"(?:\b(?:at|a las|a la|around|sobre las)\s+)?\b(\d{1,2})(?::(\d{2}))?\s*"
    r"(a\.?m\.?|p\.?m\.?|o'?clock)?(?![\d:])"
)
# A calendar date ("December 5", "5 de diciembre", "2026-12-05", "12/5"): dateparser's work.
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
    "agosto", "septiembre", "setiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip
_DATE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b(?:" + "|".join(MONTHS) + r")\b"
)
_MORNING = re.compile(r"\b(?:morning|(?:por|de|en) la manana|this morning|esta manana)\b")
_AFTERNOON = re.compile(r"\b(?:afternoon|(?:por|de|en) la tarde|esta tarde)\b")
_EVENING = re.compile(r"\b(?:evening|tonight|(?:por|de|en) la noche|esta noche)\b")


def normalized(text: str) -> str:
    """Lower case without accents, single spaces: "Llámame MAÑANA" → "llamame manana"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.replace("’", "'").split())


def names_a_time(value: Any) -> bool:
    """An extracted time variable that holds something (not empty, "none", "null"...)."""
    return value is not None and str(value).strip().lower() not in NO_VALUE


def asks_by_variables(variables: Any) -> bool:
    """The agent extracted a callback time."""
    return isinstance(variables, Mapping) and any(
        names_a_time(variables.get(name)) for name in CALLBACK_TIME_VARIABLES
    )


def asks_for_callback(text: str) -> bool:
    said = normalized(text)
    return any(cue in said for cue in CALLBACK_CUES)


def _callee_turns(transcript: Iterable[Any]) -> list[str]:
    return [
        str(turn.get("text") or "")
        for turn in transcript
        if isinstance(turn, Mapping) and turn.get("speaker") not in AGENT_SPEAKERS
    ]


def callback_request_in(transcript: Any) -> str:
    """The callee's words asking for a callback (the last time they asked), with their next
    turns; "" when the callee never asked."""
    if not isinstance(transcript, list):
        return ""
    turns = _callee_turns(transcript)
    for index in range(len(turns) - 1, -1, -1):
        if asks_for_callback(turns[index]):
            return " ".join(turns[index : index + 1 + FOLLOWING_TURNS]).strip()
    return ""


def _amount(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _clock(said: str, part: time | None) -> time | None:
    """The time of day a phrase names, if any; a part of the day decides am/pm."""
    if _NOON.search(said):
        return time(12)
    for match in _CLOCK.finditer(said):
        hour, minute, suffix = int(match[1]), int(match[2] or 0), (match[3] or "")
        introduced = match[0].strip()[:1].isalpha()  # "at 3", "a las 3"
        if not (introduced or match[2] or suffix):
            continue  # a bare number ("2 kids") is not a time
        if hour > 23 or minute > 59:
            continue
        if suffix.startswith("p") and hour < 12:
            hour += 12
        elif suffix.startswith("a") and hour == 12:
            hour = 0
        elif not suffix.startswith(("a", "p")) and hour <= 12:
            if part is not None and part.hour >= 12 and hour < 12:
                hour += 12  # "a las 3 de la tarde", "at 6 in the evening"
            elif part is None and 1 <= hour <= 7:
                hour += 12  # nobody asks for a call at 3 at night
        return time(hour, minute)
    return None


def _part_of_day(said: str) -> time | None:
    if _MORNING.search(said):
        return PART_OF_DAY["morning"]
    if _AFTERNOON.search(said):
        return PART_OF_DAY["afternoon"]
    if _EVENING.search(said):
        return PART_OF_DAY["evening"]
    return None


def _day_offset(said: str, today: datetime) -> int | None:
    """Days from the call's local date to the day the phrase names; None if it names none."""
    if _AFTER_TOMORROW.search(said):
        return 2
    if _TOMORROW.search(said):
        return 1
    weekday = _WEEKDAY.search(said)
    if weekday:
        ahead = (WEEKDAYS[weekday[1]] - today.weekday()) % 7
        return ahead or 7
    if _NEXT_WEEK.search(said):
        return 7 - today.weekday()  # next week's Monday
    if _TODAY.search(said) or _TONIGHT.search(said):
        return 0
    return None


def _from_grammar(said: str, local_end: datetime) -> datetime | None:
    relative = _IN.search(said)
    if relative:
        if relative[1]:
            return local_end + timedelta(minutes=30)
        amount, unit = _amount(relative[2]), relative[3]
        unit_delta = timedelta(hours=1) if unit.startswith("h") else timedelta(minutes=1)
        return local_end + amount * unit_delta
    part = _part_of_day(said)
    clock = _clock(said, part) or part
    offset = _day_offset(said, local_end)
    if offset is None and clock is None:
        return None
    day = local_end.date() + timedelta(days=offset or 0)
    moment = datetime.combine(day, clock or local_end.time(), tzinfo=local_end.tzinfo)
    if offset is None and moment <= local_end:
        moment += timedelta(days=1)  # "at 3pm" said at 17:30: tomorrow's 3pm
    return moment


def _from_dateparser(text: str, local_end: datetime, zone: ZoneInfo) -> datetime | None:
    import dateparser  # imported here: loading its language data takes a moment

    try:
        found = dateparser.parse(
            text[:MAX_TEXT],
            languages=["en", "es"],
            settings={
                "RELATIVE_BASE": local_end.replace(tzinfo=None),
                "PREFER_DATES_FROM": "future",
                "TIMEZONE": str(zone),
                "RETURN_AS_TIMEZONE_AWARE": True,
            },
        )
    except (ValueError, OverflowError, TypeError):
        # Vendor text is anything; a phrase dateparser chokes on names no time (the queue).
        return None
    return found.astimezone(zone) if found is not None else None


def parse_callback_time(text: str, *, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The moment `text` asks to be called at, relative to `after` (the call's end) read in
    `zone` (the contact's); None when it names no moment in the future."""
    if not text or not text.strip():
        return None
    local_end = after.astimezone(zone)
    said = normalized(text[:MAX_TEXT])
    if _DATE.search(said):
        moment = _from_dateparser(text, local_end, zone) or _from_grammar(said, local_end)
    else:
        moment = _from_grammar(said, local_end) or _from_dateparser(text, local_end, zone)
    if moment is None or not local_end < moment <= local_end + FURTHEST:
        return None
    # Wall-clock arithmetic above; normalising through UTC settles a daylight-saving jump.
    return moment.astimezone(ZoneInfo("UTC")).astimezone(zone)
