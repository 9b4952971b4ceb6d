"""Vendor JSON made storable: text a database can hold and a page can render.

JSON may escape characters that are not text: a lone surrogate (`"\\ud800"`) decodes to a
Python str that cannot be encoded as UTF-8 (SQLite, PostgreSQL and every HTTP response refuse
it), and NUL (`"\\u0000"`) is refused by PostgreSQL text and jsonb. A vendor's summary or
transcript holding one must not make storing the call, or any page that shows it, fail: both
become U+FFFD, the replacement character, as undecodable bytes already do. Vendor text is
shown, never compared byte for byte, so nothing is lost that anyone could use.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT_CHARACTER = "\ufffd"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Only these escapes can produce an unstorable character from valid JSON (raw control
# characters and raw surrogate bytes are refused by the parser itself).
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)


def storable_text(text: str) -> str:
    """`text` with every lone surrogate and NUL replaced by U+FFFD."""
    # ASCII text (most webhook bodies: JSON escapes everything else) holds no surrogate, and
    # `isascii` and `in` are C loops: the regex walked an 18.5 KB body in 56 µs on a quiet core
    # (0.2 ms on a busy one), holding the GIL, on every delivery the webhook endpoint stores;
    # this takes 0.16 µs.
    if text.isascii():
        return text.replace("\x00", REPLACEMENT_CHARACTER) if "\x00" in text else text
    return _UNSTORABLE.sub(REPLACEMENT_CHARACTER, text)


def storable_json(value: Any) -> Any:
    """A decoded JSON value with every string in it (keys too) made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): storable_json(item) for key, item in value.items()}
    return value


def load_vendor_json(data: bytes | str) -> Any:
    """json.loads for a vendor's body; raises ValueError for anything that is not JSON,
    including nesting too deep to decode."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    try:
        value = json.loads(data)
        if _UNSTORABLE_ESCAPE.search(raw) or (isinstance(data, str) and _UNSTORABLE.search(data)):
            value = storable_json(value)
    except RecursionError:
        raise ValueError("The JSON is nested too deeply.") from None
    return value


# --- Vendor values as people read them (pages and template filters) ---


def code_label(code: Any) -> str:
    """A vendor's code as words: "CALL_NOT_PICKED" → "Call not picked", "follow_up" → "Follow
    up". Pages show it with the code itself in a tooltip, so nothing the vendor said is lost."""
    text = " ".join(str(code or "").replace("_", " ").replace("-", " ").split())
    return text[:1].upper() + text[1:].lower() if text else "—"


def human_duration(seconds: Any) -> str:
    """45 → "45 s", 1712 → "28 min 32 s", 3720 → "1 h 2 min"; nothing → "—"."""
    if seconds is None or seconds == "" or isinstance(seconds, bool):
        return "—"
    try:
        total = round(float(seconds))
    except (TypeError, ValueError):
        return "—"
    if total < 0:
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
