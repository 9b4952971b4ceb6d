"""Writing the audit log: one function every app calls for a security- or money-relevant action."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.client_address import client_address
from accounts.models import AuditAction, AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    # The connection's address, or behind trusted proxies the one the first proxy saw: never
    # an address the client wrote itself (accounts/client_address.py).
    if request is None:
        return None
    return client_address(request)


def audit_record(
    *,
    action: AuditAction,
    request: HttpRequest | None = None,
    actor: Any = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "username", "") or (detail or {}).get("username", ""),
        target=target[:200],
        detail=detail or {},
        ip_address=client_ip(request),
    )
