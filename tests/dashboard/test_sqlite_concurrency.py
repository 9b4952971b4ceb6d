"""Web, worker and beat write to the embedded SQLite database at once, without a lock error."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection

from accounts.models import AuditEvent
from tests.utils import child_process_env

WRITER = """
import django
django.setup()
from django.db import transaction
from accounts.models import AuditEvent
for n in range({rows}):
    with transaction.atomic():
        # Read then write in one transaction: the pattern that deadlocks under DEFERRED.
        AuditEvent.objects.count()
        AuditEvent.objects.create(action="call_triggered", target="writer {name} row " + str(n))
"""


@pytest.mark.django_db(transaction=True)
def test_it_lets_three_processes_write_at_once_without_locking_errors():
    rows = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.format(rows=rows, name=name)],
            env=child_process_env(),
            stderr=subprocess.PIPE,
        )
        for name in ("web", "worker", "beat")
    ]
    errors = [writer.communicate(timeout=120)[1].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0], errors
    assert AuditEvent.objects.count() == 3 * rows


def test_it_runs_sqlite_in_wal_mode(db):
    if connection.vendor != "sqlite":
        pytest.skip("only the embedded SQLite database uses WAL")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
