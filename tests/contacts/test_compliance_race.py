"""Frequency caps under real concurrency: workers racing for one number on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from contacts.compliance import NotAllowedNow, attempt_reserve
from contacts.models import CompliancePolicy, DialAttempt

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the lock per number is PostgreSQL's; SQLite lets one writer in at a time anyway",
    ),
]

NUMBER = "+13055550199"


def race(workers: int, work) -> list[object]:
    """Runs `work` in `workers` threads released at the same instant; what each returned."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # noqa: BLE001 - the test reads each worker's outcome
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_it_lets_only_the_cap_through_when_eight_workers_race_for_one_number():
    CompliancePolicy.objects.update_or_create(
        pk=1, defaults={"max_attempts_per_day": 3, "max_attempts_per_week": 7}
    )

    def reserve() -> str:
        with transaction.atomic():
            attempt_reserve(phone_e164=NUMBER, source="race")
            # The rest of the transaction writing the call: the window a second worker would
            # use to count before this attempt is committed, were there no lock.
            time.sleep(0.05)
        return "reserved"

    results = race(8, reserve)
    assert results.count("reserved") == 3
    refused = [result for result in results if isinstance(result, NotAllowedNow)]
    assert len(refused) == 5
    assert all("at most 3 attempts per 24 h" in refusal.rule for refusal in refused)
    assert DialAttempt.objects.filter(phone_e164=NUMBER).count() == 3
