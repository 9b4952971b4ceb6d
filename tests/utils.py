"""Helpers for tests that start other processes against the test database."""

from __future__ import annotations

import os

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
