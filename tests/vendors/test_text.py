"""Vendor text made storable: NUL and lone surrogates become U+FFFD, anything else is kept."""

from __future__ import annotations

import pytest

from vendors.text import REPLACEMENT_CHARACTER, storable_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii", "plain ascii"),
        ("nul\x00inside\x00", f"nul{REPLACEMENT_CHARACTER}inside{REPLACEMENT_CHARACTER}"),
        ("café \x00 ok", f"café {REPLACEMENT_CHARACTER} ok"),
        ("lone \ud800 surrogate", f"lone {REPLACEMENT_CHARACTER} surrogate"),
        ("astral 😀 and \udfff", f"astral 😀 and {REPLACEMENT_CHARACTER}"),
        ("", ""),
    ],
)
def test_it_replaces_nul_and_lone_surrogates_in_ascii_and_other_text(text, expected):
    assert storable_text(text) == expected
    storable_text(text).encode("utf-8")  # storable: a lone surrogate would raise here


def test_it_keeps_an_ascii_body_without_nul_unchanged():
    body = '{"transcript": "' + "a long line of talk " * 1000 + '"}'
    assert storable_text(body) == body
