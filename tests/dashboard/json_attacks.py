"""Hostile JSON the API and page forms must refuse (issue 15), shared by their tests.

Raw JSON text put in place of one field's value: the escapes reach the parser as the
attacker typed them.
"""

from __future__ import annotations

import json

VALUE_ATTACKS = {
    "lone_surrogate_in_a_value": '{"a": "\\ud800"}',
    "lone_low_surrogate_in_a_key": '{"\\udfff": "x"}',
    "nul_in_a_value": '{"a": "before\\u0000after"}',
    "nul_in_a_key": '{"\\u0000": 1}',
    "nul_deep_inside": '{"a": [{"b": ["ok", "\\u0000"]}]}',
    "nesting_3000_deep": "{" + '"a": [' * 3000 + "]" * 3000 + "}",
    "nesting_100000_deep": "{" + '"a": [' * 100_000 + "]" * 100_000 + "}",
    "an_infinite_number": '{"a": 1e400}',
    "nan": '{"a": NaN}',
    "too_many_keys": json.dumps({f"k{index}": index for index in range(1001)}),
    "a_too_long_text": json.dumps({"a": "x" * 70_000}),
}
# As a JSON string, for text fields (names, numbers).
TEXT_ATTACKS = {
    "lone_surrogate_in_text": '"Ada \\ud83d"',
    "nul_in_text": '"Ada\\u0000"',
}
SIX_MEGABYTES = 6_000_000
