"""The shared JSON check itself: depth measured without recursion, exact limits, good text."""

from __future__ import annotations

import pytest

from accounts.json_input import JsonInputError, JsonLimits, check_json_value, parse_json_text

LIMITS = JsonLimits(
    max_body_bytes=10_000_000,
    max_depth=32,
    max_keys=1000,
    max_items=100_000,
    max_string_chars=65_536,
)


def test_it_checks_a_value_nested_deeper_than_the_stack_without_recursing():
    value: list = []
    for _ in range(200_000):
        value = [value]
    with pytest.raises(JsonInputError, match="Nested more than 32 levels deep"):
        check_json_value(value, limits=LIMITS)


def test_it_refuses_text_nested_deeper_than_json_loads_can_recurse():
    with pytest.raises(JsonInputError) as caught:
        parse_json_text("[" * 500_000 + "]" * 500_000, limits=LIMITS)
    assert caught.value.field is None


def test_it_takes_the_deepest_allowed_body_and_refuses_one_level_more():
    allowed = '{"a": ' + "[" * 31 + "]" * 31 + "}"
    assert parse_json_text(allowed, limits=LIMITS)["a"]
    with pytest.raises(JsonInputError) as caught:
        parse_json_text('{"a": ' + "[" * 32 + "]" * 32 + "}", limits=LIMITS)
    assert caught.value.field == "a"


def test_it_names_the_top_level_key_of_a_deep_value_after_other_fields():
    text = '{"name": "x", "tags": ["[", "{"], "metadata": ' + "[" * 40 + "]" * 40 + "}"
    with pytest.raises(JsonInputError) as caught:
        parse_json_text(text, limits=LIMITS)
    assert caught.value.field == "metadata"


def test_it_keeps_surrogate_pairs_and_other_unicode():
    parsed = parse_json_text('{"a": "\\ud83d\\ude00 caf\\u00e9 \\u2028"}', limits=LIMITS)
    assert parsed == {"a": "\U0001f600 café \u2028"}


def test_it_shows_an_unstorable_key_escaped_in_the_field_name():
    with pytest.raises(JsonInputError) as caught:
        parse_json_text('{"\\ud800x": 1}', limits=LIMITS)
    assert caught.value.field == "\\ud800x"
    caught.value.field.encode("utf-8")  # safe to put in an answer


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a": ' + "[" * 100_000,
        "[{" * 50_000 + "]}" * 50_000,
        '{"a": "' + "[" * 100_000,
    ],
)
def test_it_refuses_broken_deep_text_without_recursing(text):
    with pytest.raises(JsonInputError):
        parse_json_text(text, limits=LIMITS)
