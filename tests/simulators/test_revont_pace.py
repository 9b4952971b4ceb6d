"""The Revont sandbox's pace of new records: a demo asks for a few an hour, tests for many."""

from __future__ import annotations

import pytest

from simulators.app import SandboxApp


@pytest.fixture
def revont():
    app = SandboxApp(speed=100.0, seed=7)
    vendor = app.vendors["revont"]
    waits: list[float] = []
    vendor.context.scheduler.at = lambda when, _callback: waits.append(when - app.clock.now())
    return vendor, waits


def test_it_makes_records_every_few_seconds_by_default(revont):
    vendor, waits = revont
    for _ in range(20):
        vendor.schedule_next_call()
    assert max(waits) <= 28.0 / 100.0 + 0.01


def test_it_paces_records_per_wall_clock_hour_whatever_the_speed(revont):
    vendor, waits = revont
    vendor.configure({"vendor": "revont", "records_per_hour": 4})
    for _ in range(50):
        vendor.schedule_next_call()
    assert all(450 - 1 <= wait <= 1350 + 1 for wait in waits)
    assert 700 < sum(waits) / len(waits) < 1100
    assert vendor.config_summary()["records_per_hour"] == 4


def test_it_goes_back_to_the_default_pace_on_null_and_on_reset(revont):
    vendor, _waits = revont
    vendor.configure({"vendor": "revont", "records_per_hour": 4})
    vendor.configure({"vendor": "revont", "records_per_hour": None})
    assert vendor.records_per_hour is None
    vendor.configure({"vendor": "revont", "records_per_hour": 4})
    vendor.reset()
    assert vendor.records_per_hour is None


@pytest.mark.parametrize("pace", [0, -1, "4", True])
def test_it_refuses_a_pace_that_is_not_a_positive_number(revont, pace):
    vendor, _waits = revont
    with pytest.raises(ValueError, match="records_per_hour"):
        vendor.configure({"vendor": "revont", "records_per_hour": pace})
