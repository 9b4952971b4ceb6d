"""Helpers for tests that start other processes against the test database."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.db import connection


def test_database_url() -> str:
    """A DATABASE_URL naming the database this test run uses (pytest-django's test_ copy)."""
    config = connection.settings_dict
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or ""
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = config.get("HOST") or "127.0.0.1"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{config['NAME']}"


def child_process_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must see the same database as this test."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": test_database_url(),
        **extra,
    }


def calling_policy_open_all_hours() -> None:
    """The calling policy for tests about other things: every hour of every day, no caps."""
    from contacts.compliance import policy_save

    policy_save(
        max_attempts_per_day=0,
        max_attempts_per_week=0,
        min_gap_minutes=0,
        rules=[{"place": "", "label": "Everywhere", "start_minute": 0, "end_minute": 24 * 60}],
    )


# Places 8 to 9 hours apart: the shipped 8:00–21:00 (local) is open in at least one at any time.
_PREFIXES_AROUND_THE_WORLD = ("+1415555", "+44207946", "+8135555")  # San Francisco, London, Tokyo


def number_inside_shipped_calling_hours(last_four: int, *, minutes: int = 15) -> str:
    """A number ending in `last_four` whose place is inside the shipped calling hours now and
    for the next `minutes`, for tests that run the whole product (`make run`) with its shipped
    policy at whatever time the test suite runs."""
    from django.utils import timezone

    from contacts.compliance import hours_refusal, place_of, shipped_hours_rules

    rules, now = shipped_hours_rules(), timezone.now()
    for prefix in _PREFIXES_AROUND_THE_WORLD:
        number = f"{prefix}{last_four:04d}"
        place = place_of(number)
        moments = (now, now + timedelta(minutes=minutes))
        if not any(hours_refusal(rules, place, moment) for moment in moments):
            return number
    raise AssertionError("no place is inside the shipped calling hours now")


def migrate_to(targets: list[tuple[str, str | None]]) -> Any:
    """Migrates the database to `targets` ((app, migration), None for none of the app) and
    returns the models as they stand there (a migration test's historical apps)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    applied = [target for target in targets if target[1] is not None]
    return executor.loader.project_state(applied).apps


def migrate_to_latest() -> None:
    """Every app to its newest migration: a test that migrated the database back leaves it as
    the other tests expect (migrating one app back may unapply other branches of its history,
    which that test's own "after" targets do not name)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
