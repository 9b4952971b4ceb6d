"""Moving the analytics summary from dashboard/ to analytics/ keeps every row: a database at the
schema before the move, holding summary rows, migrates forward and reads them as before."""

from __future__ import annotations

import datetime

import pytest

from tests.utils import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    yield
    migrate_to_latest()


BEFORE = [("dashboard", "0006_accounts_models_moved"), ("analytics", None)]
AFTER = [("dashboard", "0007_analytics_models_moved"), ("analytics", "0001_initial")]


def test_it_keeps_the_summary_rows_through_the_move():
    old = migrate_to(BEFORE)
    old.get_model("dashboard", "SummaryState").objects.update_or_create(
        pk=1, defaults={"time_zone": "Europe/Paris"}
    )
    day = datetime.date(2026, 11, 30)
    old.get_model("dashboard", "CallHourTotal").objects.create(day=day, hour=9, calls=7)

    new = migrate_to(AFTER)
    assert new.get_model("analytics", "SummaryState").objects.get(pk=1).time_zone == "Europe/Paris"
    total = new.get_model("analytics", "CallHourTotal").objects.get(day=day, hour=9)
    assert total.calls == 7

    back = migrate_to(BEFORE)
    assert back.get_model("dashboard", "CallHourTotal").objects.filter(calls=7).exists()
    migrate_to(AFTER)
