"""The one guard every CSV callops writes puts its cells through (call log, analytics,
rejected rows of an import): a spreadsheet must not run a cell as a formula.

It lives beside the phone numbers because phone numbers are its one exception.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import phonenumbers

from contacts.phones import keep_compiled_phone_patterns

# OWASP's list (CSV injection): a cell starting with one of these is read as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a written phone number is made of. A cell of only these characters can do arithmetic at
# most: no function, no cell reference, no DDE (they all need letters, "!" or "|").
_PHONE_SHAPED = re.compile(r"\+[0-9 ().\-/]+")

# An export may parse a number per row: kept compiled, phonenumbers' patterns cost half.
keep_compiled_phone_patterns()


def inert_cell(value: Any) -> str:
    """The value as a CSV cell that a spreadsheet shows as text and never runs.

    A cell starting with = + - @, a tab or a carriage return gets a leading quote, unless it
    is a valid international phone number ("+1 415 555 2671"), whose "+" stays readable.
    """
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_phone_number(text):
        return f"'{text}"
    return text


def _is_phone_number(text: str) -> bool:
    return _PHONE_SHAPED.fullmatch(text) is not None and _valid_phone_number(text)


# The numbers of an export repeat (the calling line of every call): each is parsed once.
@lru_cache(maxsize=65536)
def _valid_phone_number(text: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, None))
    except phonenumbers.NumberParseException:
        return False


class EchoBuffer:
    """A csv.writer target that hands each written row back, for streamed CSV responses."""

    def write(self, value: str) -> str:
        return value
