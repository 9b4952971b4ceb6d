"""Encryption of vendor secrets at rest (MultiFernet over CALLOPS_ENCRYPTION_KEYS).

The first key encrypts; every key decrypts, so keys can be rotated: add a new key in front,
run `manage.py rotate_vendor_keys`, then drop the old key.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret was encrypted with a key that is no longer configured."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CALLOPS_ENCRYPTION_KEYS holds no key.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CALLOPS_ENCRYPTION_KEYS must be comma-separated Fernet keys; make one with "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.CALLOPS_ENCRYPTION_KEYS))


def encrypt_secret(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("No configured encryption key can read this secret.") from exc


def reencrypt_secret(token: str) -> str:
    """Re-encrypt with the newest key (rotation)."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("No configured encryption key can read this secret.") from exc


def mask_secret(plaintext: str) -> str:
    """`sk_live_…c123`: the vendor prefix, if any, and the last four characters only."""
    if not plaintext:
        return ""
    tail = plaintext[-4:] if len(plaintext) > 8 else ""
    prefix = ""
    for candidate in ("sk_live_", "sk_test_", "sk-revor-"):
        if plaintext.startswith(candidate):
            prefix = candidate
            break
    return f"{prefix}…{tail}"
