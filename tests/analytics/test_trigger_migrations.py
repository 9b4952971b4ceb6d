"""The summary's change-tracking triggers survive every migration: SQLite drops a table's
triggers when a migration rebuilds the table, so a fresh database must still end with them,
and a database that lost them starts its summary over."""

from __future__ import annotations

import pytest

from analytics import summary_triggers
from analytics.models import SummaryState
from tests.utils import migrate_to, migrate_to_latest


def test_it_ends_every_migration_with_the_summary_triggers(db):
    # The test database was built by running every migration, as a new install is.
    assert summary_triggers.triggers_installed()


@pytest.mark.django_db(transaction=True)
def test_it_puts_back_lost_triggers_and_starts_the_summary_over():
    migrate_to([("analytics", "0002_summary_common_outcome")])
    try:
        SummaryState.objects.update_or_create(pk=1, defaults={"time_zone": "Europe/Paris"})
        summary_triggers.drop_triggers()  # what SQLite's rebuild of calls_call did
        migrate_to_latest()
        assert summary_triggers.triggers_installed()
        assert SummaryState.objects.get(pk=1).time_zone == ""  # the next refresh rebuilds it
    finally:
        migrate_to_latest()
