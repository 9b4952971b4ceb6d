"""System checks of our own: secrets that must be readable, and that production must share.

An unreadable secret is an Error: `check` and every management command that runs checks
(`migrate`, `run`) stop on it, and gunicorn and Celery, which run no checks of their own, stop
through `refuse_to_start_with_unreadable_secrets` (dashboard/wsgi.py, dashboard/celery.py).
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

MAKE_A_FERNET_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def encryption_key_errors() -> list[Error]:
    keys = list(settings.CALLOPS_ENCRYPTION_KEYS)
    if not keys:
        return [
            Error(
                "CALLOPS_ENCRYPTION_KEYS holds no key.",
                hint=f"Set Fernet keys, comma-separated, newest first; make one with "
                f"{MAKE_A_FERNET_KEY}",
                id="callops.E001",
            )
        ]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            # The position only: the value may be a real secret with a typo, and this is logged.
            errors.append(
                Error(
                    f"CALLOPS_ENCRYPTION_KEYS: key {position} of {len(keys)} is not a Fernet key "
                    "(32 bytes in URL-safe base64, 44 characters).",
                    hint=f"Make one with {MAKE_A_FERNET_KEY}",
                    id="callops.E002",
                )
            )
    return errors


@register(Tags.security)
def check_readable_secrets(app_configs: Any, **kwargs: Any) -> list[Error]:
    return encryption_key_errors()


def refuse_to_start_with_unreadable_secrets() -> None:
    """For processes that run no system checks (gunicorn, Celery): stop now, not at first use."""
    errors = encryption_key_errors()
    if errors:
        raise ImproperlyConfigured(" ".join(f"{error.msg} {error.hint}" for error in errors))


@register(Tags.security, deploy=True)
def check_shared_secrets(app_configs: Any, **kwargs: Any) -> list[Warning]:
    warnings = []
    if not settings.SECRET_KEY_FROM_ENV:
        warnings.append(
            Warning(
                "SECRET_KEY is read from var/secret_key on this machine.",
                hint="Set SECRET_KEY in the environment so every machine shares it.",
                id="callops.W001",
            )
        )
    if not settings.ENCRYPTION_KEYS_FROM_ENV:
        warnings.append(
            Warning(
                "CALLOPS_ENCRYPTION_KEYS is read from var/encryption_key on this machine.",
                hint="Set CALLOPS_ENCRYPTION_KEYS (comma-separated Fernet keys, newest first).",
                id="callops.W002",
            )
        )
    if not settings.HTTPS:
        warnings.append(
            Warning(
                "CALLOPS_HTTPS is off: cookies are not Secure and HSTS is not sent.",
                hint="Serve callops over HTTPS and set CALLOPS_HTTPS=true.",
                id="callops.W003",
            )
        )
    return warnings
