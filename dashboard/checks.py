"""Deploy checks of our own: secrets that production must share across machines."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


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
