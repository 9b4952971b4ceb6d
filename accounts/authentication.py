"""API tokens: how they look, how they are checked, and the DRF pieces that use them.

A token reads `cop_<prefix>_<secret>`: the prefix (8 hex characters, not secret) finds the row,
the secret (32 random bytes, URL-safe base64) is only ever stored as its SHA-256. A request sends
it as `Authorization: Bearer <token>` (or `Token <token>`) and then acts with the token's role,
cut down to what its creator may do at that moment: the creator's groups are read on every request
(nothing about the creator is cached), so a demotion or deactivation takes effect at the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken, TokenPrincipal
from accounts.roles import Role, roles_within

TOKEN_SCHEME = "cop"  # noqa: S105 - the visible prefix of every token, not a secret
AUTH_KEYWORDS = (b"bearer", b"token")
# last_used_at is written at most this often per token, so a busy integration costs no write
# per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """The parts of a freshly made token: `plaintext` is shown once and never stored."""

    prefix: str
    secret_hash: str
    plaintext: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_token() -> NewToken:
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return NewToken(
        prefix=prefix,
        secret_hash=hash_secret(secret),
        plaintext=f"{TOKEN_SCHEME}_{prefix}_{secret}",
    )


def split_token(plaintext: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, or None."""
    scheme, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != TOKEN_SCHEME or len(prefix) != 8 or not secret:
        return None
    return prefix, secret


def principal_for(token: ApiToken) -> TokenPrincipal:
    """An unsaved stand-in for the token's creator with the token's role, within the creator's own.

    `token.created_by` must be freshly loaded: its current groups decide what the token may do.
    """
    creator = token.created_by
    label = f"{creator.username} (token {token.name})"[:150]
    principal = TokenPrincipal(
        pk=creator.pk,
        username=label,
        email=creator.email,
        is_active=True,
        is_staff=False,
        is_superuser=False,
    )
    # accounts.roles reads this cache before any group: these are the principal's only roles.
    principal._callops_roles = roles_within(Role(token.role), creator)  # type: ignore[attr-defined]
    principal.api_token = token
    return principal


def authenticate_token(plaintext: str) -> ApiToken:
    """The usable token for `plaintext`; AuthenticationFailed for anything else."""
    parts = split_token(plaintext)
    if parts is None:
        raise AuthenticationFailed("The token is not a callops API token.")
    prefix, secret = parts
    token = ApiToken.objects.select_related("created_by").filter(prefix=prefix).first()
    # Compare a hash even when no row matched, so timing does not tell which prefixes exist.
    expected = token.secret_hash if token is not None else "0" * 64
    if not hmac.compare_digest(expected, hash_secret(secret)) or token is None:
        raise AuthenticationFailed("The token is not valid.")
    if token.is_revoked:
        raise AuthenticationFailed("The token has been revoked.")
    if token.is_expired:
        raise AuthenticationFailed("The token has expired.")
    if not token.created_by.is_active:
        raise AuthenticationFailed("The token's user has been deactivated.")
    _touch(token)
    return token


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional so concurrent requests write at most once per minute between them.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    token.last_used_at = now


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` or `Token <token>`; request.auth is the ApiToken."""

    def authenticate(self, request: Request) -> tuple[TokenPrincipal, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in AUTH_KEYWORDS:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(
                "Send the token as `Authorization: Bearer <token>`, with no spaces in it."
            )
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token is not valid.") from None
        token = authenticate_token(plaintext)
        return principal_for(token), token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'


class ApiTokenRateThrottle(SimpleRateThrottle):
    """Per-token request rate (CALLOPS_API_RATE, e.g. "600/min"); browser sessions are not limited.

    The counts live in the default cache: shared between processes only when REDIS_URL is set.
    """

    scope = "api_token"

    def get_rate(self) -> str | None:
        return settings.CALLOPS_API_RATE

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A callops API token (Settings → API tokens): `cop_<prefix>_<secret>`.",
        }
