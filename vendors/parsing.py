"""Defensive readers for vendor JSON: a missing or oddly typed optional field becomes None
instead of an exception, a missing required one is a VendorBadResponse naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vendors.errors import VendorBadResponse

JsonObject = Mapping[str, Any]


def as_object(value: Any, what: str) -> JsonObject:
    if not isinstance(value, Mapping):
        raise VendorBadResponse(f"Expected a JSON object for {what}, got {type(value).__name__}.")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise VendorBadResponse(f"Expected a JSON list for {what}, got {type(value).__name__}.")
    return value


def required_str(data: JsonObject, key: str) -> str:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise VendorBadResponse(f"The vendor's answer has no {key!r}.")
    return value


def optional_str(data: JsonObject, key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def optional_int(data: JsonObject, key: str) -> int | None:
    number = optional_float(data, key)
    return int(number) if number is not None else None


def optional_float(data: JsonObject, key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def optional_bool(data: JsonObject, key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def optional_object(data: JsonObject, key: str) -> dict[str, Any] | None:
    value = data.get(key)
    return dict(value) if isinstance(value, Mapping) else None


def object_list(data: JsonObject, key: str) -> list[JsonObject]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def optional_datetime(data: JsonObject, key: str) -> datetime | None:
    """ISO 8601 (a trailing Z or no offset means UTC) or unix seconds."""
    value = data.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
