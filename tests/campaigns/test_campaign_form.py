"""The campaign form over HTTP: every control a user sees, and the message each mistake gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from tests.campaigns.test_pages_and_api import form_data
from tests.factories import AgentFactory, ContactFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db

NEW = "/campaigns/new"


@pytest.fixture
def agent():
    return AgentFactory(vendor_account=VendorAccountFactory(name="Revrag main"), name="Main Ava")


def region(client, target, params):
    return client.get(NEW, params, headers={"HX-Request": "true", "HX-Target": target})


def field_errors(response, name):
    """The messages rendered in the same cell or block as the named control."""
    html = response.content.decode()
    control = html.index(f'name="{name}"')
    start = max(html.rfind('<div class="field', 0, control), html.rfind("<td", 0, control))
    closing = "</div>" if html[start:].startswith("<div") else "</td>"
    end = html.find(closing, control)
    return html[start:end]


def test_it_lists_only_the_chosen_accounts_agents(client_as, agent):
    other = AgentFactory(vendor_account=VendorAccountFactory(name="Revrag other"), name="Other Bo")
    client = client_as("operator")
    answer = region(client, "agent-field", {"vendor_account": agent.vendor_account_id})
    html = answer.content.decode()
    assert answer.status_code == 200 and 'id="agent-field"' in html and "<html" not in html
    assert "Main Ava" in html and "Other Bo" not in html
    # Without JavaScript, "Show its agents" shows the form again with the list filtered.
    refreshed = client.post(
        NEW, {"name": "", "vendor_account": other.vendor_account_id, "refresh": "agents"}
    )
    page = refreshed.content.decode()
    # The agent select only: the arm rows below offer every account's agents.
    agents = agent_field(page)
    assert refreshed.status_code == 200 and "Other Bo" in agents and "Main Ava" not in agents
    assert "field-error" not in page and not Campaign.objects.exists()
    before = agent_field(client.get(NEW).content.decode())
    assert "Choose a vendor account first" in before and "Main Ava" not in before


def agent_field(html: str) -> str:
    start = html.index('id="agent-field"')
    return html[start : html.index("</select>", start)]


def test_it_refuses_an_agent_of_another_account_next_to_the_field(client_as, agent):
    other = AgentFactory(vendor_account=VendorAccountFactory())
    response = client_as("operator").post(NEW, form_data(agent, agent=other.pk))
    assert response.status_code == 400
    assert "Choose one of the chosen account" in field_errors(response, "agent")
    assert not Campaign.objects.exists()


def test_it_counts_and_samples_the_filtered_audience(client_as):
    now = timezone.now()
    ContactFactory(name="Lead Ada", phone_e164="+14155550601")
    ContactFactory(name="Lead Bea", phone_e164="+14155550602")
    old = ContactFactory(name="Lead Cy", phone_e164="+14155550603")
    ContactFactory(name="Someone", phone_e164="+14155550604")
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=30))
    client = client_as("operator")
    answer = region(
        client,
        "audience-preview",
        {"audience_search": "Lead", "audience_created_from": (now - timedelta(days=2)).date()},
    )
    html = answer.content.decode()
    assert 'id="audience-preview"' in html and "<html" not in html
    assert "2 contacts" in html and "Lead Ada" in html and "Lead Cy" not in html
    assert "Someone" not in html


def test_it_builds_the_audience_from_search_and_creation_dates(client_as, agent):
    now = timezone.now()
    recent = ContactFactory(name="Lead Ada", phone_e164="+14155550611")
    old = ContactFactory(name="Lead Cy", phone_e164="+14155550612")
    ContactFactory(name="Someone", phone_e164="+14155550613")
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=30))
    response = client_as("operator").post(
        NEW,
        form_data(
            agent,
            audience_search="Lead",
            audience_created_from=str((now - timedelta(days=2)).date()),
            audience_created_until=str(now.date()),
        ),
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert list(campaign.entries.values_list("contact_id", flat=True)) == [recent.pk]
    assert campaign.audience_created_from == (now - timedelta(days=2)).date()


def test_it_refuses_creation_dates_in_the_wrong_order(client_as, agent):
    response = client_as("operator").post(
        NEW,
        form_data(agent, audience_created_from="2026-03-10", audience_created_until="2026-03-01"),
    )
    assert response.status_code == 400
    assert "End on or after the first day" in field_errors(response, "audience_created_until")
    assert not Campaign.objects.exists()


def test_it_offers_a_searchable_pick_list_and_saves_the_ticked_contacts(client_as, agent):
    ada = ContactFactory(name="Ada Pick", phone_e164="+14155550621")
    bea = ContactFactory(name="Bea Pick", phone_e164="+14155550622")
    ContactFactory(name="Cy Other", phone_e164="+14155550623")
    client = client_as("operator")
    found = region(client, "pick-list", {"pick_q": "Pick", "picked_contacts": [str(ada.pk)]})
    html = found.content.decode()
    assert 'id="pick-list"' in html and "Bea Pick" in html and "Cy Other" not in html
    assert f'value="{ada.pk}" checked' in html and f'value="{bea.pk}" checked' not in html
    # The picked contact stays listed (and ticked) when the search moves on.
    moved = region(client, "pick-list", {"pick_q": "Other", "picked_contacts": [str(ada.pk)]})
    assert f'value="{ada.pk}" checked' in moved.content.decode()
    saved = client.post(
        NEW, form_data(agent, audience_mode="pick", picked_contacts=[str(ada.pk), str(bea.pk)])
    )
    assert saved.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.audience_picked
    assert sorted(campaign.entries.values_list("contact_id", flat=True)) == [ada.pk, bea.pk]


def test_it_refuses_picking_nobody_or_a_contact_that_is_gone(client_as, agent):
    client = client_as("operator")
    empty = client.post(NEW, form_data(agent, audience_mode="pick"))
    assert empty.status_code == 400 and "Tick at least one contact" in empty.content.decode()
    gone = client.post(NEW, form_data(agent, audience_mode="pick", picked_contacts=["999999"]))
    assert gone.status_code == 400 and "no longer exists" in gone.content.decode()
    assert not Campaign.objects.exists()


def test_it_reads_the_schedule_in_the_chosen_zone_and_stores_utc(client_as, agent):
    client = client_as("operator")
    response = client.post(
        NEW,
        form_data(
            agent,
            schedule_time_zone="Europe/Paris",
            starts_at="2026-07-01T09:00",
            ends_at="2026-07-03T18:30",
        ),
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.starts_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert campaign.ends_at == datetime(2026, 7, 3, 16, 30, tzinfo=UTC)
    edit = client.get(reverse("campaigns:edit", kwargs={"pk": campaign.pk})).content.decode()
    assert 'type="datetime-local"' in edit and 'value="2026-07-01T09:00"' in edit
    assert '<option value="Europe/Paris" selected>' in edit
    detail = client.get(reverse("campaigns:detail", kwargs={"pk": campaign.pk})).content.decode()
    assert "1 Jul 2026 09:00" in detail and "(Europe/Paris)" in detail


def test_it_offers_the_server_zone_by_default(client_as, settings):
    settings.TIME_ZONE = "America/New_York"
    page = client_as("operator").get(NEW).content.decode()
    schedule = page[page.index('name="schedule_time_zone"') :]
    assert '<option value="America/New_York" selected>' in schedule.split("</select>")[0]


def test_it_refuses_a_time_the_clock_skips_and_an_end_before_the_start(client_as, agent):
    client = client_as("operator")
    skipped = client.post(
        NEW,
        form_data(agent, schedule_time_zone="Europe/Paris", starts_at="2026-03-29T02:30"),
    )
    assert skipped.status_code == 400
    assert "does not exist in Europe/Paris" in field_errors(skipped, "starts_at")
    backwards = client.post(
        NEW, form_data(agent, starts_at="2026-07-02T09:00", ends_at="2026-07-01T09:00")
    )
    assert backwards.status_code == 400
    assert "End after the start" in field_errors(backwards, "ends_at")
    garbled = client.post(NEW, form_data(agent, starts_at="next tuesday"))
    assert garbled.status_code == 400 and "Give a date and time" in garbled.content.decode()
    assert not Campaign.objects.exists()


def test_it_prefills_retry_rows_and_saves_them_as_the_dispatcher_reads_them(client_as, agent):
    client = client_as("operator")
    page = client.get(NEW).content.decode()
    first_row = page[page.index('name="retry_outcome_0"') : page.index('name="retry_outcome_1"')]
    assert '<option value="no_answer" selected>' in first_row
    assert 'name="retry_after_0" value="2"' in first_row
    assert '<option value="hours" selected>' in first_row
    response = client.post(
        NEW,
        form_data(
            agent,
            retry_outcome_1="voicemail",
            retry_after_1="30",
            retry_unit_1="minutes",
            retry_attempts_1="2",
        ),
    )
    assert response.status_code == 302
    assert Campaign.objects.get().retry_rules == {
        "no_answer": {"retry_after_minutes": 120, "max_attempts": 3},
        "voicemail": {"retry_after_minutes": 30, "max_attempts": 2},
    }


def test_it_refuses_incomplete_duplicate_or_too_long_retry_rows(client_as, agent):
    response = client_as("operator").post(
        NEW,
        form_data(
            agent,
            retry_outcome_1="no_answer",
            retry_after_1="5",
            retry_attempts_1="2",
            retry_outcome_2="voicemail",
            retry_attempts_2="2",
            retry_outcome_3="declined",
            retry_after_3="200",
            retry_unit_3="hours",
            retry_attempts_3="11",
        ),
    )
    assert response.status_code == 400
    assert "already has a rule" in field_errors(response, "retry_outcome_1")
    assert "how long to wait" in field_errors(response, "retry_after_2")
    assert "less than or equal to 10" in field_errors(response, "retry_attempts_3")
    assert not Campaign.objects.exists()
    too_long = client_as("operator").post(
        NEW, form_data(agent, retry_after_0="200", retry_unit_0="hours")
    )
    assert "at most 7 days" in field_errors(too_long, "retry_after_0")


def test_it_maps_variables_from_contact_fields_and_templates(client_as, agent):
    client = client_as("operator")
    page = client.get(NEW).content.decode()
    assert '<option value="email">Contact&#x27;s email</option>' in page
    response = client.post(
        NEW,
        form_data(
            agent,
            var_name_1="mail",
            var_source_1="email",
            var_name_2="greeting",
            var_text_2="Hello {{ contact.name }}, from Acme",
        ),
    )
    assert response.status_code == 302
    assert Campaign.objects.get().variables_template == {
        "name": "{{ contact.name }}",
        "mail": "{{ contact.email }}",
        "greeting": "Hello {{ contact.name }}, from Acme",
    }


def test_it_refuses_variables_without_names_or_beyond_contact_fields(client_as, agent):
    response = client_as("operator").post(
        NEW,
        form_data(
            agent,
            var_source_1="email",
            var_name_2="secret",
            var_text_2="{{ settings.SECRET_KEY }}",
        ),
    )
    assert response.status_code == 400
    assert "Name this variable" in field_errors(response, "var_name_1")
    assert "is not a contact field" in field_errors(response, "var_text_2")
    assert not Campaign.objects.exists()


def test_it_marks_errors_for_the_focus_script_without_an_inline_script(client_as, agent):
    response = client_as("operator").post(NEW, form_data(agent, name=""))
    html = response.content.decode()
    assert response.status_code == 400
    assert "data-first-error" in html and "js/campaign-form.js" in html
    assert "This field is required" in field_errors(response, "name")
    assert "<script>" not in html


def test_it_offers_contacts_extra_data_keys_and_first_names_as_variable_sources(client_as, agent):
    lead = ContactFactory(name="Ada Lovelace", metadata={"plan": "gold", "Plan name": "Gold"})
    client = client_as("operator")
    page = client.get(NEW).content.decode()
    assert '<option value="metadata.plan">Extra data: plan</option>' in page
    # A key a placeholder cannot name (a space) is not offered rather than offered broken.
    assert "Extra data: Plan name" not in page
    assert '<option value="first_name">' in page
    response = client.post(
        NEW,
        form_data(
            agent,
            var_name_1="plan",
            var_source_1="metadata.plan",
            var_name_2="hello",
            var_text_2="Hi {{ contact.first_name }}",
        ),
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.variables_template["plan"] == "{{ contact.metadata.plan }}"
    # The dispatcher fills them from the contact.
    from campaigns.schedule import render_variables

    filled = render_variables(campaign.variables_template, lead)
    assert filled["plan"] == "gold" and filled["hello"] == "Hi Ada"
    # Editing shows the stored choice picked again, even once no contact has the key.
    lead.delete()
    edit = client.get(f"/campaigns/{campaign.pk}/edit").content.decode()
    assert '<option value="metadata.plan" selected>Extra data: plan</option>' in edit


def test_it_builds_the_audience_from_a_list_or_an_imported_file_with_a_live_count(client_as, agent):
    from contacts import services as contact_services
    from contacts.models import ContactImport, ContactImportMember

    ann, bob, cy = (ContactFactory(name=name) for name in ("Ann", "Bob", "Cy"))
    vip = contact_services.contact_list_add(contact=ann, name="VIP")
    contact_services.contact_list_add(contact=bob, name="VIP")
    imported = ContactImport.objects.create(file_name="webinar.csv", status="done", total_rows=2)
    ContactImportMember.objects.create(contact_import=imported, contact=bob)
    ContactImportMember.objects.create(contact_import=imported, contact=cy)
    client = client_as("operator")
    page = client.get(NEW).content.decode()
    assert f'<option value="{vip.pk}">VIP</option>' in page and "webinar.csv · " in page
    preview = region(client, "audience-preview", {"audience_list": vip.pk}).content.decode()
    assert "2 contacts" in preview and "Ann" in preview and "Cy" not in preview
    both = region(
        client, "audience-preview", {"audience_list": vip.pk, "audience_import": imported.pk}
    ).content.decode()
    assert "1 contact" in both and "Bob" in both
    saved = client.post(NEW, form_data(agent, audience_import=imported.pk))
    assert saved.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.audience_import == imported
    assert set(campaign.entries.values_list("contact__name", flat=True)) == {"Bob", "Cy"}
    edit = client.get(f"/campaigns/{campaign.pk}/edit").content.decode()
    assert f'<option value="{imported.pk}" selected>webinar.csv' in edit
    gone = client.post(NEW, form_data(agent, audience_list="999999"))
    assert gone.status_code == 400
    assert "no longer exists" in field_errors(gone, "audience_list")
    # Without any list, the field says where lists come from.
    vip.delete()
    assert "No list yet" in client.get(NEW).content.decode()


def test_the_api_takes_a_list_or_an_import_as_the_audience(client_as, agent):
    import json

    from contacts import services as contact_services

    ann = ContactFactory(name="Ann")
    ContactFactory(name="Bob")
    vip = contact_services.contact_list_add(contact=ann, name="VIP")
    body = {
        "name": "VIP calls",
        "vendor_account": agent.vendor_account_id,
        "agent": agent.pk,
        "audience_list": vip.pk,
    }
    client = client_as("operator")
    created = client.post("/api/v1/campaigns/", json.dumps(body), content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["counters"]["total"] == 1
    missing = client.post(
        "/api/v1/campaigns/",
        json.dumps({**body, "audience_list": 999999, "audience_import": 999999}),
        content_type="application/json",
    )
    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"audience_list", "audience_import"}
    assert Campaign.objects.count() == 1


def test_it_saves_who_makes_the_campaigns_callbacks_and_keeps_the_default_when_left_out(
    client_as, agent
):
    operator = client_as("operator")
    ContactFactory(name="Lead Ada", phone_e164="+14155550631")
    assert operator.post(NEW, form_data(agent, callback_agent="any")).status_code == 302
    assert Campaign.objects.get().callback_agent == "any"
    Campaign.objects.all().delete()
    assert operator.post(NEW, form_data(agent)).status_code == 302
    assert Campaign.objects.get().callback_agent == "same"
    bad = operator.post(NEW, form_data(agent, callback_agent="robot"))
    assert bad.status_code == 400 and "callback_agent" in bad.context["form"].errors


def test_the_api_reads_and_writes_who_makes_the_campaigns_callbacks(client_as, agent):
    import json

    ContactFactory(name="Ann")
    body = {"name": "Callbacks by anyone", "vendor_account": agent.vendor_account_id,
            "agent": agent.pk, "callback_agent": "any"}  # fmt: skip
    client = client_as("operator")
    created = client.post("/api/v1/campaigns/", json.dumps(body), content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["callback_agent"] == "any"
    assert Campaign.objects.get().callback_agent == "any"
    refused = client.post(
        "/api/v1/campaigns/",
        json.dumps({**body, "callback_agent": "robot"}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and "callback_agent" in refused.json()["error"]["fields"]


def test_it_saves_the_consent_a_campaign_requires_and_its_disclosure_variable(client_as, agent):
    client = client_as("operator")
    missing = client.post(
        NEW, form_data(agent, required_consent_type="written", disclosure_variable="disclosure")
    )
    assert missing.status_code == 400 and not Campaign.objects.exists()
    assert "Add a variable named “disclosure” below" in field_errors(missing, "disclosure_variable")
    saved = client.post(
        NEW,
        form_data(
            agent,
            required_consent_type="written",
            disclosure_variable="disclosure",
            var_name_1="disclosure",
            var_text_1="This call is recorded.",
        ),
    )
    assert saved.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.required_consent_type, campaign.disclosure_variable) == (
        "written",
        "disclosure",
    )
    detail = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Consent required</dt><dd>Written</dd>" in detail
