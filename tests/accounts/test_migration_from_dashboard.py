"""Moving the audit log and API tokens from dashboard/ to accounts/ keeps every row: a database
at the schema before the move, holding data, migrates forward and the rows read as before."""

from __future__ import annotations

import pytest

from tests.utils import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    yield
    migrate_to_latest()


BEFORE = [("dashboard", "0005_analytics_summary"), ("accounts", None)]
AFTER = [("dashboard", "0006_accounts_models_moved"), ("accounts", "0001_initial")]


def test_it_keeps_audit_events_and_tokens_through_the_move():
    old = migrate_to(BEFORE)
    user_model = old.get_model("auth", "User")
    adele = user_model.objects.create(username="adele-before-the-move")
    old.get_model("dashboard", "AuditEvent").objects.create(
        actor=adele, actor_label="adele", action="token_created", target="CRM", detail={"a": 1}
    )
    old.get_model("dashboard", "ApiToken").objects.create(
        name="CRM", role="admin", prefix="abc123", secret_hash="0" * 64, created_by=adele
    )
    content_type = old.get_model("contenttypes", "ContentType")
    content_type.objects.get_or_create(app_label="dashboard", model="apitoken")

    new = migrate_to(AFTER)
    event = new.get_model("accounts", "AuditEvent").objects.get(target="CRM")
    assert (event.actor.username, event.action, event.detail) == (
        adele.username,
        "token_created",
        {"a": 1},
    )
    token = new.get_model("accounts", "ApiToken").objects.get(prefix="abc123")
    assert (token.name, token.role, token.created_by.username) == ("CRM", "admin", adele.username)
    moved = new.get_model("contenttypes", "ContentType").objects.filter(model="apitoken")
    assert list(moved.values_list("app_label", flat=True)) == ["accounts"]

    # And back: a release rolled back finds its rows where it left them.
    back = migrate_to(BEFORE)
    assert back.get_model("dashboard", "ApiToken").objects.filter(prefix="abc123").exists()
    migrate_to(AFTER)
