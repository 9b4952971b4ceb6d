"""var/ holds the database, the broker, the keys and the demo logins: 0700, and 0600 inside."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO_ROOT = Path(__file__).resolve().parents[2]

# What `make run` writes under var/ besides the database and the keys: the demo logins and a
# message in the embedded broker.
SEED = """
from dashboard.demo import seed_users
from dashboard.tasks import record_heartbeat
seed_users()
record_heartbeat.delay()
"""


def embedded_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("CALLOPS_", "DJANGO_", "DATABASE_URL", "CELERY_", "REDIS_URL", "SECRET_KEY")
        )
    }
    env.update(CALLOPS_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="dashboard.settings", **extra)
    return env


def manage(*arguments: str, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "manage.py", *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(var_dir: Path) -> dict[str, int]:
    return {
        str(path.relative_to(var_dir)): mode(path)
        for path in var_dir.rglob("*")
        if not path.is_symlink()
    }


@pytest.fixture
def world_readable_umask():
    """The usual login umask (022), so only callops' own umask can make the files private."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_it_creates_var_and_everything_in_it_owner_only(tmp_path, world_readable_umask):
    var_dir = tmp_path / "var"
    env = embedded_env(var_dir)

    manage("migrate", env=env)
    manage("shell", "-c", SEED, env=env)

    assert mode(var_dir) == 0o700
    created = modes_under(var_dir)
    for name in ("callops.sqlite3", "secret_key", "encryption_key", "demo-logins.json"):
        assert name in created
    assert any(name.startswith("celery-broker") for name in created)
    files = {name: value for name, value in created.items() if not (var_dir / name).is_dir()}
    folders = {name: value for name, value in created.items() if (var_dir / name).is_dir()}
    assert files == dict.fromkeys(files, 0o600)
    assert folders == dict.fromkeys(folders, 0o700)


def test_it_tightens_a_var_made_world_readable_before(tmp_path, world_readable_umask):
    var_dir = tmp_path / "var"
    (var_dir / "celery-broker" / "processed").mkdir(parents=True)
    old_files = [
        var_dir / "callops.sqlite3",
        var_dir / "secret_key",
        var_dir / "celery-broker" / "m",
    ]
    for path in old_files:
        path.write_bytes(b"")
        path.chmod(0o644)
    for folder in (var_dir, var_dir / "celery-broker", var_dir / "celery-broker" / "processed"):
        folder.chmod(0o755)
    (var_dir / "secret_key").write_text("x" * 50)

    manage(
        "check",
        env=embedded_env(var_dir, CALLOPS_ENCRYPTION_KEYS=Fernet.generate_key().decode()),
    )

    assert mode(var_dir) == 0o700
    assert mode(var_dir / "celery-broker") == 0o700
    assert mode(var_dir / "celery-broker" / "processed") == 0o700
    assert [mode(path) for path in old_files] == [0o600, 0o600, 0o600]


def test_it_refuses_a_shared_sticky_directory_as_var(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    result = subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=embedded_env(shared),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "CALLOPS_VAR_DIR must be a directory of callops' own" in result.stderr
    assert mode(shared) == 0o1777
