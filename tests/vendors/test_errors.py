"""One parser for every vendor's error envelope."""

from __future__ import annotations

import json

import pytest

from vendors.errors import (
    FieldError,
    VendorAuthError,
    VendorRateLimited,
    VendorUnavailable,
    VendorValidationError,
    error_class_for,
    parse_error_body,
)


@pytest.mark.parametrize(
    ("body", "message", "code", "request_id"),
    [
        ({"error": {"code": "forbidden", "message": "No access"}}, "No access", "forbidden", ""),
        (
            {
                "ok": False,
                "error": {
                    "code": "api_key_invalid",
                    "message": "api_key_invalid",
                    "request_id": "req_1",
                },
            },
            "api_key_invalid",
            "api_key_invalid",
            "req_1",
        ),
        ({"detail": "Call is not currently active"}, "Call is not currently active", "", ""),
        ({"success": False, "message": "Invalid API key"}, "Invalid API key", "", ""),
    ],
)
def test_it_reads_every_envelope(body, message, code, request_id):
    parsed = parse_error_body(json.dumps(body).encode())

    assert (parsed.message, parsed.code, parsed.request_id) == (message, code, request_id)


def test_it_reads_fastapi_validation_details_as_field_errors():
    body = {
        "detail": [
            {"type": "missing", "loc": ["body", "audio_url"], "msg": "Field required", "input": {}},
            {
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "msg": "Too big",
                "input": "500",
            },
        ]
    }

    parsed = parse_error_body(json.dumps(body).encode())

    assert parsed.field_errors == (
        FieldError("audio_url", "Field required", "missing"),
        FieldError("limit", "Too big", "less_than_equal"),
    )
    assert parsed.message == "audio_url: Field required; limit: Too big"


def test_it_keeps_a_non_json_body_as_the_message():
    assert parse_error_body(b"<html>Bad gateway</html>").message == "<html>Bad gateway</html>"
    assert parse_error_body(b"").message == ""


@pytest.mark.parametrize(
    ("status", "error_class", "permanent"),
    [
        (401, VendorAuthError, True),
        (422, VendorValidationError, True),
        (400, VendorValidationError, True),
        (429, VendorRateLimited, False),
        (503, VendorUnavailable, False),
        (504, VendorUnavailable, False),
    ],
)
def test_it_maps_statuses_to_typed_errors(status, error_class, permanent):
    error = error_class_for(status)("x")

    assert isinstance(error, error_class)
    assert error.permanent is permanent
