"""Post-call rules speak the common outcomes; rules stored with older names keep working."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.urls import reverse

from calls.models import CallState, CommonOutcome
from calls.post_call import rule_matches
from tests.factories import CallFactory, PostCallRuleFactory

pytestmark = pytest.mark.django_db


def _ended(common: str):
    return CallFactory(state=CallState.ENDED, common_outcome=common)


def test_it_matches_a_rule_by_common_outcome():
    rule = PostCallRuleFactory(outcomes=["callback_requested", "voicemail"])
    assert rule_matches(rule, _ended(CommonOutcome.CALLBACK_REQUESTED))
    assert rule_matches(rule, _ended(CommonOutcome.VOICEMAIL))
    assert not rule_matches(rule, _ended(CommonOutcome.COMPLETED))
    assert not rule_matches(rule, _ended(CommonOutcome.OPTED_OUT))


def test_it_reads_an_older_outcome_name_as_the_common_ones_it_became():
    rule = PostCallRuleFactory(outcomes=["rejected"])
    assert rule_matches(rule, _ended(CommonOutcome.BUSY))
    assert rule_matches(rule, _ended(CommonOutcome.DECLINED))
    assert not rule_matches(rule, _ended(CommonOutcome.NO_ANSWER))


def test_the_migration_rewrites_stored_rules_in_common_outcomes():
    old = PostCallRuleFactory(outcomes=["completed", "hung_up", "not_picked"])
    every = PostCallRuleFactory(outcomes=[])
    migration = import_module("calls.migrations.0013_common_outcome_index_and_rules")
    migration.translate_rule_outcomes(django_apps, None)
    old.refresh_from_db()
    every.refresh_from_db()
    assert old.outcomes == ["completed", "callback_requested", "no_answer"]
    assert every.outcomes == []


def test_the_rule_form_offers_common_outcomes_only(client_as):
    rule = PostCallRuleFactory(outcomes=["no_answer"])
    client = client_as("operator")
    page = client.get(reverse("calls:rule_edit", kwargs={"pk": rule.pk})).content.decode()
    assert 'value="callback_requested"' in page and "Callback requested" in page
    assert 'value="not_picked"' not in page
    ticked = page[page.index('value="no_answer"') :].split(">", 1)[0]
    assert "checked" in ticked
