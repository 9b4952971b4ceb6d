"""The one check every JSON or text input passes before callops stores it or sends it on.

Hostile JSON used to be stored and then break every page that showed it: a lone surrogate
(`"\\ud800"`) cannot be encoded as UTF-8, PostgreSQL refuses NUL (`\\u0000`) in text and JSON,
non-finite numbers are not JSON, and deep nesting makes Python's json module raise
RecursionError. This module refuses all of that at the boundary, with the field named:

- the API reads bodies through the parsers below (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES);
- page forms use `JSONObjectField`, `parse_json_form_text` or `clean_json_value`.

Limits are settings (CALLOPS_JSON_MAX_*, see `JsonLimits`). A body over the size limit is a
413 in the API's error shape; anything else is a 400 naming the field. Depth is measured on the
raw text before it is parsed and again, without recursion, on the parsed value.

Kept free of imports from the apps (calls, contacts, campaigns): they build on it.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from rest_framework import exceptions, parsers

# ----------------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class JsonLimits:
    """What one request may hold. Depth counts the body itself as level 1."""

    max_body_bytes: int
    max_depth: int
    max_keys: int
    max_items: int
    max_string_chars: int

    @classmethod
    def from_settings(cls) -> JsonLimits:
        # DRF reads a JSON or form body through HttpRequest.body, which Django caps too.
        django_cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body_cap = settings.CALLOPS_JSON_MAX_BODY_BYTES
        return cls(
            max_body_bytes=min(body_cap, django_cap) if django_cap is not None else body_cap,
            max_depth=settings.CALLOPS_JSON_MAX_DEPTH,
            max_keys=settings.CALLOPS_JSON_MAX_KEYS,
            max_items=settings.CALLOPS_JSON_MAX_ITEMS,
            max_string_chars=settings.CALLOPS_JSON_MAX_STRING_CHARS,
        )

    def describe(self) -> str:
        return (
            f"JSON and form bodies: at most {self.max_body_bytes:,} bytes (else 413), nested at "
            f"most {self.max_depth} levels deep, at most {self.max_keys:,} keys per object and "
            f"{self.max_items:,} items per array, text of at most {self.max_string_chars:,} "
            "characters, no NUL characters or lone UTF-16 surrogates, finite numbers only "
            "(else 400 naming the field)."
        )


Path = tuple[str | int, ...]


class JsonInputError(ValueError):
    """Input callops will not store. `path` leads from the body (or form field) to the value."""

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    @property
    def field(self) -> str | None:
        """The top-level field the bad value is in, printable (None for the body as a whole)."""
        if not self.path or not isinstance(self.path[0], str):
            return None
        return _printable(self.path[0])

    @property
    def located_message(self) -> str:
        """The message, saying where the value sits when it is below the top-level field."""
        return self._at(self.path) if len(self.path) > 1 else self.message

    @property
    def message_below_field(self) -> str:
        """The message, saying where the value sits inside the field (shown beside it)."""
        return self._at(self.path[1:]) if len(self.path) > 1 else self.message

    def _at(self, path: Path) -> str:
        return f"At {_dotted(path)}: {self.message[0].lower()}{self.message[1:]}"


# ------------------------------------------------------------------------------ the checks

# NUL and the UTF-16 surrogate range. json.loads joins a valid surrogate pair into one
# character, so any surrogate left in a parsed string is a lone one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_STRING_PATTERN = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_JSON_STRING = re.compile(_STRING_PATTERN, re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")
# A JSON string token or a bracket: enough to measure nesting without parsing.
_STRUCTURE = re.compile(_STRING_PATTERN + r"|[\[\]{}]", re.DOTALL)
_LABEL_CHARS = 60


def _printable(text: str) -> str:
    """`text` safe to show and to encode: unstorable characters as \\u escapes, shortened."""
    shown = _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return shown if len(shown) <= _LABEL_CHARS else shown[: _LABEL_CHARS - 1] + "…"


def _dotted(path: Path) -> str:
    parts: list[str] = []
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(("." if parts else "") + _printable(step))
    return "".join(parts)


def _check_text(text: str, path: Path, limits: JsonLimits, what: str) -> None:
    bad = _UNSTORABLE.search(text)
    if bad is not None:
        if bad.group() == "\x00":
            raise JsonInputError(f"The {what} holds a NUL character (\\u0000).", path)
        raise JsonInputError(
            f"The {what} holds a lone UTF-16 surrogate (\\u{ord(bad.group()):04x}), "
            "which is not text.",
            path,
        )
    if len(text) > limits.max_string_chars:
        raise JsonInputError(
            f"The {what} is longer than {limits.max_string_chars:,} characters.", path
        )


def check_json_value(
    value: Any, *, path: Path = (), depth: int = 1, limits: JsonLimits | None = None
) -> None:
    """Raise JsonInputError unless `value` (parsed JSON, or a dict a form built) is storable.

    `depth` is the level `value` sits at: 1 for a whole body, 2 for a field's value.
    Iterative, so a deep value cannot exhaust the stack.
    """
    limits = limits or JsonLimits.from_settings()
    pending: list[tuple[Path, Any, int]] = [(path, value, depth)]
    while pending:
        where, item, level = pending.pop()
        if isinstance(item, str):
            _check_text(item, where, limits, "text")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise JsonInputError(f"The number {item} is not a finite number.", where)
        elif isinstance(item, dict | list):
            if level > limits.max_depth:
                raise JsonInputError(_too_deep(limits), where)
            if isinstance(item, dict):
                if len(item) > limits.max_keys:
                    raise JsonInputError(f"More than {limits.max_keys:,} keys.", where)
                for key, child in item.items():
                    key_path = (*where, str(key))
                    _check_text(str(key), key_path, limits, "key")
                    pending.append((key_path, child, level + 1))
            else:
                if len(item) > limits.max_items:
                    raise JsonInputError(f"More than {limits.max_items:,} items.", where)
                pending.extend(
                    ((*where, index), child, level + 1) for index, child in enumerate(item)
                )


def _too_deep(limits: JsonLimits) -> str:
    return f"Nested more than {limits.max_depth} levels deep."


def _check_nesting(text: str, *, path: Path, depth: int, limits: JsonLimits) -> None:
    """Refuse text nested deeper than the limit before json.loads recurses into it.

    Counts brackets outside strings, stopping at the first level too deep. For a body that is
    an object, the error names the top-level key whose value is too deep.
    """
    if not _may_nest_deeper_than(text, limits.max_depth - (depth - 1)):
        return
    level = depth - 1
    names_keys = not path and text.lstrip().startswith("{")
    top_level_key: str | None = None
    last_text_at_top = ""
    for match in _STRUCTURE.finditer(text):
        piece = match.group()
        if piece[0] == '"':
            if level == depth:
                last_text_at_top = piece
            continue
        if piece in "[{":
            level += 1
            if level == depth + 1 and names_keys:
                # In an object, the text just before a nested value is that value's key.
                top_level_key = _decoded_key(last_text_at_top)
            if level > limits.max_depth:
                where = path or ((top_level_key,) if top_level_key is not None else ())
                raise JsonInputError(_too_deep(limits), where)
        else:
            level -= 1


def _may_nest_deeper_than(text: str, allowed: int) -> bool:
    """False when `text` surely nests at most `allowed` levels; cheap (regular expressions
    only), so the exact count above runs only for text that is too deep or not JSON."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(allowed):
        if not brackets:
            return False
        # Each pass removes the innermost level of every nest.
        brackets = _EMPTY_PAIR.sub("", brackets)
    return bool(brackets)


def _decoded_key(token: str) -> str | None:
    try:
        key = json.loads(token)
    except ValueError:
        return None
    return key if isinstance(key, str) else None


def parse_json_text(
    text: str, *, path: Path = (), depth: int = 1, limits: JsonLimits | None = None
) -> Any:
    """Parse `text` as JSON and check it; JsonInputError if it is not JSON or not storable.

    `path` and `depth` place the text: () and 1 for a request body, ("field",) and 2 for a
    form field holding JSON.
    """
    limits = limits or JsonLimits.from_settings()
    if len(text) > limits.max_body_bytes:
        raise JsonInputError(f"The JSON is longer than {limits.max_body_bytes:,} characters.", path)
    _check_nesting(text, path=path, depth=depth, limits=limits)
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonInputError(_too_deep(limits), path) from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise JsonInputError(f"This is not valid JSON ({_printable(str(exc))}).", path) from None
    check_json_value(value, path=path, depth=depth, limits=limits)
    return value


# ------------------------------------------------------------------------------------- API


class RequestBodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"

    def __init__(self) -> None:
        limit = JsonLimits.from_settings().max_body_bytes
        super().__init__(f"The request body is larger than {limit:,} bytes.")


def _as_api_error(error: JsonInputError) -> exceptions.APIException:
    if error.field is None:
        return exceptions.ValidationError([error.located_message])
    return exceptions.ValidationError({error.field: [error.located_message]})


def _read_body(stream: Any, limit: int) -> bytes:
    # DRF hands these parsers the body Django read already (HttpRequest.body, itself capped
    # by DATA_UPLOAD_MAX_MEMORY_SIZE); reading one byte past the limit tells if it is over.
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise RequestBodyTooLarge()
    return body


class CheckedJSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded and checked: 413 over the size limit, else a 400 naming
    the field for anything `parse_json_text` refuses."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limits = JsonLimits.from_settings()
        body = _read_body(stream, limits.max_body_bytes)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            raise exceptions.ParseError(f"The body is not {encoding} text.") from None
        try:
            return parse_json_text(text, limits=limits)
        except JsonInputError as error:
            raise _as_api_error(error) from None


def _check_form_data(data: Any, limits: JsonLimits) -> None:
    for key, values in data.lists():
        check_json_value({key: values}, limits=limits)


class CheckedFormParser(parsers.FormParser):
    """DRF's form parser, bounded, and its fields checked like JSON text."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limits = JsonLimits.from_settings()
        body = _read_body(stream, limits.max_body_bytes)
        data = super().parse(io.BytesIO(body), media_type, parser_context)
        try:
            _check_form_data(data, limits)
        except JsonInputError as error:
            raise _as_api_error(error) from None
        return data


class CheckedMultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser with its text fields checked like JSON text (files are not:
    their own limits apply, and Django bounds the text parts by DATA_UPLOAD_MAX_MEMORY_SIZE)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        try:
            _check_form_data(parsed.data, JsonLimits.from_settings())
        except JsonInputError as error:
            raise _as_api_error(error) from None
        return parsed


# ------------------------------------------------------------------------------- page forms

# A form field's value sits where an API body's field does; the form shows the error beside
# the field, so only the path below it is spelled out.
_FORM_FIELD: Path = ("field",)


def parse_json_form_text(text: str) -> Any:
    """The JSON a form field holds, parsed and checked, else the form error for the field."""
    try:
        return parse_json_text(text, path=_FORM_FIELD, depth=2)
    except JsonInputError as error:
        raise forms.ValidationError(error.message_below_field, code="json_input") from None


def clean_json_value(value: Any) -> Any:
    """A form field's `value` (e.g. a dict built from key/value rows) if storable, else the
    form error to show beside the field."""
    try:
        check_json_value(value, path=_FORM_FIELD, depth=2)
    except JsonInputError as error:
        raise forms.ValidationError(error.message_below_field, code="json_input") from None
    return value


class JSONObjectField(forms.CharField):
    """A JSON object typed in a textarea, parsed and checked like an API body's field."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "code-input"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, indent=2)
        return value

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        text = (value or "").strip()
        if not text:
            return {}
        parsed = parse_json_form_text(text)
        if not isinstance(parsed, dict):
            raise forms.ValidationError("Give a JSON object: { ... }.")
        return parsed
