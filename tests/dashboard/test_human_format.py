"""Values as people read them: durations in hours, minutes and seconds."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from dashboard.templatetags.human import duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (1712, "28 min 32 s"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
        (3725, "1 h 2 min"),
        (89.6, "1 min 30 s"),
        (None, "—"),
        ("", "—"),
        ("soon", "—"),
        (-3, "—"),
        (True, "—"),
    ],
)
def test_it_shows_a_duration_as_people_read_it(seconds, text):
    assert duration(seconds) == text


def test_it_is_available_in_every_template_without_loading():
    assert Template("{{ value|duration }}").render(Context({"value": 1712})) == "28 min 32 s"


@pytest.mark.parametrize(
    ("code", "label"),
    [("CALL_NOT_PICKED", "Call not picked"), ("follow_up", "Follow up"), ("", "—"), (None, "—")],
)
def test_it_shows_a_vendor_code_as_words(code, label):
    from dashboard.templatetags.human import code_label

    assert code_label(code) == label


def test_it_prints_a_selects_options_escaped_with_the_current_one_selected():
    rendered = Template("{% select_options choices current %}").render(
        Context({"choices": [("", "Any"), (7, "<b>Ann</b>"), ('x"y', "Quote")], "current": "7"})
    )
    assert rendered == (
        '<option value="">Any</option>'
        '<option value="7" selected>&lt;b&gt;Ann&lt;/b&gt;</option>'
        '<option value="x&quot;y">Quote</option>'
    )


def test_it_selects_no_option_when_nothing_is_chosen():
    rendered = Template("{% select_options choices current %}").render(
        Context({"choices": [("", "Any"), ("a", "A")], "current": None})
    )
    assert " selected" not in rendered
