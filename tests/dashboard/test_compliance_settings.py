"""Settings → Compliance: admins edit the calling policy; others get the styled 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from contacts.compliance import policy_restore_defaults
from contacts.models import CallingHoursRule, CompliancePolicy

pytestmark = pytest.mark.django_db

PAGE = reverse("settings_compliance")


@pytest.fixture
def shipped():
    policy_restore_defaults()


def rows_as_posted(response) -> dict[str, object]:
    """The form as the page renders it, as a browser would send it back unchanged."""
    caps, default, overrides = (
        response.context["caps"],
        response.context["default"],
        response.context["overrides"],
    )
    data: dict[str, object] = {}
    for form in (caps, default, *overrides.forms):
        for field in form:
            value = field.value()
            if field.name == "excluded_weekdays":
                data[field.html_name] = [str(day) for day in value or []]
            elif field.widget_type == "checkbox":
                if value:
                    data[field.html_name] = "on"
            elif value is not None:
                data[field.html_name] = field.field.prepare_value(value)
    management = overrides.management_form
    for field in management:
        data[field.html_name] = field.value()
    return data


def override_index(response, place: str) -> int:
    for index, form in enumerate(response.context["overrides"].forms):
        if form.initial.get("place") == place:
            return index
    raise AssertionError(f"no row for {place}")


def test_it_shows_the_shipped_rules_with_the_counsel_note(client_as, shipped):
    response = client_as("admin").get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Have your counsel check these rules." in page
    assert 'value="US-FL"' in page and 'value="20:00"' in page
    assert response.context["caps"]["max_attempts_per_day"].value() == 3


@pytest.mark.parametrize("role", ["operator", "manager"])
def test_it_refuses_the_page_to_operators_and_managers_with_the_styled_403(client_as, role):
    response = client_as(role).get(PAGE)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only admins can manage settings." in page
    assert 'aria-label="Main"' in page  # inside the layout, with the navigation
    post = client_as(role).post(PAGE, {})
    assert post.status_code == 403
    assert client_as(role).post(reverse("settings_compliance_defaults")).status_code == 403


def test_it_lets_an_admin_edit_hours_overrides_and_caps(client_as, shipped):
    admin = client_as("admin")
    page = admin.get(PAGE)
    data = rows_as_posted(page)
    florida = override_index(page, "US-FL")
    texas = override_index(page, "US-TX")
    data.update(
        {
            "caps-max_attempts_per_day": "2",
            "caps-min_gap_minutes": "45",
            f"rule-{florida}-end_minute": "19:30",
            f"rule-{texas}-DELETE": "on",
            "default-excluded_weekdays": ["6"],
        }
    )
    empty = len(page.context["overrides"].initial_forms)
    data.update(
        {
            f"rule-{empty}-place": "us-ny",
            f"rule-{empty}-label": "New York",
            f"rule-{empty}-start_minute": "9:00",
            f"rule-{empty}-end_minute": "20:00",
            f"rule-{empty}-excluded_weekdays": ["5", "6"],
        }
    )

    response = admin.post(PAGE, data)

    assert response.status_code == 302
    policy = CompliancePolicy.objects.get()
    assert (policy.max_attempts_per_day, policy.min_gap_minutes) == (2, 45)
    assert CallingHoursRule.objects.get(place="US-FL").end_minute == 19 * 60 + 30
    assert not CallingHoursRule.objects.filter(place="US-TX").exists()
    new_york = CallingHoursRule.objects.get(place="US-NY")
    assert (new_york.label, new_york.start_minute, new_york.excluded_weekdays) == (
        "New York",
        9 * 60,
        [5, 6],
    )
    assert CallingHoursRule.objects.get(place="").excluded_weekdays == [6]
    event = AuditEvent.objects.get(action=AuditAction.COMPLIANCE_POLICY_CHANGED)
    assert event.actor_label == "adele"


def test_it_refuses_bad_rules_with_a_400_and_keeps_the_stored_policy(client_as, shipped):
    admin = client_as("admin")
    page = admin.get(PAGE)
    data = rows_as_posted(page)
    florida = override_index(page, "US-FL")
    empty = len(page.context["overrides"].initial_forms)
    data.update(
        {
            f"rule-{florida}-end_minute": "7:00",  # before its start
            f"rule-{empty}-place": "US-FL",  # a second Florida
            f"rule-{empty}-start_minute": "8:00",
            f"rule-{empty}-end_minute": "25:00",
            "caps-max_attempts_per_day": "-1",
        }
    )

    response = admin.post(PAGE, data)

    assert response.status_code == 400
    text = response.content.decode()
    assert "The end comes after the start" in text
    assert "Type a time between 0:00 and 24:00." in text
    assert "Ensure this value is greater than or equal to 0." in text
    assert CallingHoursRule.objects.get(place="US-FL").end_minute == 20 * 60
    assert CompliancePolicy.objects.get().max_attempts_per_day == 3
    assert not AuditEvent.objects.filter(action=AuditAction.COMPLIANCE_POLICY_CHANGED).exists()


def test_it_names_a_place_given_twice(client_as, shipped):
    admin = client_as("admin")
    page = admin.get(PAGE)
    data = rows_as_posted(page)
    empty = len(page.context["overrides"].initial_forms)
    data.update(
        {
            f"rule-{empty}-place": "US-FL",
            f"rule-{empty}-start_minute": "9:00",
            f"rule-{empty}-end_minute": "18:00",
        }
    )
    response = admin.post(PAGE, data)
    assert response.status_code == 400
    assert "US-FL has two rules: keep one." in response.content.decode()


def test_it_restores_the_shipped_rules(client_as, shipped):
    CallingHoursRule.objects.filter(place="US-FL").update(end_minute=23 * 60)
    CompliancePolicy.objects.update(max_attempts_per_day=9)
    response = client_as("admin").post(reverse("settings_compliance_defaults"))
    assert response.status_code == 302
    assert CallingHoursRule.objects.get(place="US-FL").end_minute == 20 * 60
    assert CompliancePolicy.objects.get().max_attempts_per_day == 3
