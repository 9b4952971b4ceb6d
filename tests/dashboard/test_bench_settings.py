"""The benchmarks' settings modules star-import dashboard.settings; the Celery app is imported
while they are half-built, so it must not read a setting then (a benchmark would not start)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH_SETTINGS = sorted(path.stem for path in (ROOT / "bench").glob("*_settings.py"))


def test_it_finds_the_benchmarks_settings_modules():
    assert "call_log_settings" in BENCH_SETTINGS


@pytest.mark.parametrize("module", BENCH_SETTINGS)
def test_it_sets_django_up_with_each_benchmark_settings_module(module):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"bench.{module}"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); import dashboard.celery"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
