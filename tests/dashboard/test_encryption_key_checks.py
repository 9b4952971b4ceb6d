"""CALLOPS_ENCRYPTION_KEYS that are not Fernet keys stop callops at start, in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Looks like a key (44 characters of base64) but decodes to 31 bytes, not 32.
ALMOST_A_KEY = "A" * 42 + "=="


def embedded_env(var_dir: Path, keys: str) -> dict[str, str]:
    """A process of the embedded install (SQLite and broker in `var_dir`) with these keys."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CALLOPS_", "DJANGO_", "DATABASE_URL", "CELERY_", "REDIS_URL"))
    }
    env.update(
        CALLOPS_VAR_DIR=str(var_dir),
        CALLOPS_ENCRYPTION_KEYS=keys,
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("keys", "error_id"),
    [
        (["notakey"], "callops.E002"),
        ([ALMOST_A_KEY], "callops.E002"),
        ([Fernet.generate_key().decode(), "notakey"], "callops.E002"),
        ([], "callops.E001"),
    ],
)
def test_it_fails_the_system_checks_on_keys_that_are_not_fernet_keys(settings, keys, error_id):
    settings.CALLOPS_ENCRYPTION_KEYS = keys
    with pytest.raises(SystemCheckError, match=error_id) as raised:
        call_command("check")
    assert "notakey" not in str(raised.value)


def test_it_passes_the_system_checks_with_fernet_keys(settings):
    settings.CALLOPS_ENCRYPTION_KEYS = [Fernet.generate_key().decode() for _ in range(2)]
    call_command("check")


@pytest.mark.parametrize(
    "command",
    [["manage.py", "migrate"], ["manage.py", "check", "--deploy"], ["manage.py", "check"]],
)
def test_it_refuses_to_migrate_or_pass_check_deploy_with_notakey(tmp_path, command):
    result = run([sys.executable, *command], embedded_env(tmp_path, "notakey"))
    assert result.returncode != 0
    assert "callops.E002" in result.stderr
    assert "key 1 of 1 is not a Fernet key" in result.stderr
    assert "Applying" not in result.stdout


def test_it_stops_gunicorn_before_it_serves_with_notakey(tmp_path):
    result = run(
        [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", "127.0.0.1:0",
         "--workers", "1"],
        embedded_env(tmp_path, "notakey"),
    )  # fmt: skip
    assert result.returncode != 0
    assert "is not a Fernet key" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["worker", "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        ["beat", "--schedule", "{var}/celerybeat-schedule"],
    ],
)
def test_it_stops_a_celery_worker_or_beat_with_notakey(tmp_path, command):
    arguments = [part.format(var=tmp_path) for part in command]
    result = run(
        [sys.executable, "-m", "celery", "-A", "dashboard", *arguments, "--loglevel", "INFO"],
        embedded_env(tmp_path, "notakey"),
    )
    assert result.returncode != 0
    assert "callops cannot start" in result.stderr
    assert "is not a Fernet key" in result.stderr
