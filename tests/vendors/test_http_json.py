"""A vendor's answer is decoded as storable JSON, whatever escapes it holds."""

from __future__ import annotations

import pytest

from vendors.errors import VendorBadResponse
from vendors.http import VendorResponse


def answer(body: bytes) -> VendorResponse:
    return VendorResponse(status=200, headers={}, content=body)


def test_it_replaces_lone_surrogates_and_nul_in_a_vendor_answer():
    body = b'{"summary": "bad \\ud800 summary", "x\\u0000": ["\\udfff", "\\ud83d\\ude00"]}'
    assert answer(body).json() == {"summary": "bad \ufffd summary", "x\ufffd": ["\ufffd", "😀"]}


def test_it_turns_json_nested_too_deeply_into_a_bad_response():
    with pytest.raises(VendorBadResponse):
        answer(b"[" * 100_000 + b"]" * 100_000).json()
