"""Typed readers for environment variables.

Each helper fails loudly (ImproperlyConfigured naming the variable) on a value it cannot read,
so a typo in production stops the process at start instead of silently taking a default.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def local_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a secret kept on this machine, creating it (mode 600) on first use.

    Used only when the matching environment variable is absent: a single-machine install works
    with no set-up, and `check --deploy` warns so production sets the variable instead.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (web, worker, beat) won the race: use its value
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    return value


def random_secret_key() -> str:
    return secrets.token_urlsafe(50)


# Owner-only: the database, the broker, the keys and the demo logins all live under var/.
PRIVATE_UMASK = 0o077


def keep_private(var_dir: Path) -> None:
    """Make every file this process creates owner-only, and tighten a var/ made before that.

    Called once from settings, before anything is written under var/: the web server, the
    workers, beat and every manage.py command import settings first.
    """
    os.umask(PRIVATE_UMASK)
    if not var_dir.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        return
    if var_dir.stat().st_mode & stat.S_ISVTX:
        raise ImproperlyConfigured(
            f"CALLOPS_VAR_DIR must be a directory of callops' own, not a shared one like "
            f"{var_dir} (it is made owner-only)."
        )
    for folder, _subfolders, files in os.walk(var_dir):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            _remove_group_and_other_access(path)


def _remove_group_and_other_access(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # another process removed it meanwhile (a test database)
        return
    if stat.S_ISLNK(mode) or not mode & PRIVATE_UMASK:
        return
    try:
        path.chmod(stat.S_IMODE(mode) & ~PRIVATE_UMASK)
    except (FileNotFoundError, PermissionError):  # gone, or not ours: nothing we can tighten
        return
