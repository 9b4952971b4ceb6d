"""Roles and what each may do: the one place that decides access.

A view declares the capability it needs with @requires(...); API views use the same
capabilities through `CapabilityPermission`. The role-matrix test walks every URL and fails when
a view declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


class Role(StrEnum):
    OPERATOR = "operator"
    MANAGER = "manager"
    ADMIN = "admin"


class Capability(StrEnum):
    VIEW_OVERVIEW = "view_overview"
    VIEW_CALLS = "view_calls"
    TRIGGER_CALLS = "trigger_calls"
    VIEW_CONTACTS = "view_contacts"
    EDIT_CONTACTS = "edit_contacts"
    VIEW_CAMPAIGNS = "view_campaigns"
    RUN_CAMPAIGNS = "run_campaigns"
    MANAGE_POST_CALL_RULES = "manage_post_call_rules"
    VIEW_AGENTS = "view_agents"
    # Create voice-platform agents, flows and speaker voices (vendor-side configuration).
    CONFIGURE_AGENTS = "configure_agents"
    VIEW_ANALYTICS = "view_analytics"
    REVIEW_CALLS = "review_calls"
    VIEW_ALERTS = "view_alerts"
    ACKNOWLEDGE_ALERTS = "acknowledge_alerts"
    MANAGE_SETTINGS = "manage_settings"


_EVERYONE = {
    Capability.VIEW_OVERVIEW,
    Capability.VIEW_CALLS,
    Capability.VIEW_CONTACTS,
    Capability.VIEW_CAMPAIGNS,
    Capability.VIEW_AGENTS,
}

ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.OPERATOR: frozenset(
        _EVERYONE
        | {
            Capability.TRIGGER_CALLS,
            Capability.EDIT_CONTACTS,
            Capability.RUN_CAMPAIGNS,
            Capability.MANAGE_POST_CALL_RULES,
            Capability.CONFIGURE_AGENTS,
        }
    ),
    Role.MANAGER: frozenset(
        _EVERYONE
        | {
            Capability.VIEW_ANALYTICS,
            Capability.REVIEW_CALLS,
            Capability.VIEW_ALERTS,
            Capability.ACKNOWLEDGE_ALERTS,
        }
    ),
    # Admins can do everything, including what operators and managers do.
    Role.ADMIN: frozenset(Capability),
}


def roles_of(user: Any) -> set[Role]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_superuser:
        return {Role.ADMIN}
    cached = getattr(user, "_callops_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        user._callops_roles = cached
    return cached


def roles_within(granted: Role, holder: Any) -> set[Role]:
    """The roles a credential granted `granted` may act with while `holder` holds what it does now.

    A role is kept only when each of its capabilities is both granted and the holder's today, so a
    token never does more than its role nor more than its creator currently may.
    """
    allowed = ROLE_CAPABILITIES[granted] & capabilities_of(holder)
    return {role for role in Role if ROLE_CAPABILITIES[role] <= allowed}


def capabilities_of(user: Any) -> frozenset[Capability]:
    return frozenset().union(*(ROLE_CAPABILITIES[role] for role in roles_of(user)))


def primary_role(user: Any) -> Role | None:
    roles = roles_of(user)
    for role in (Role.ADMIN, Role.MANAGER, Role.OPERATOR):
        if role in roles:
            return role
    return None


def has_capability(user: Any, capability: Capability) -> bool:
    return any(capability in ROLE_CAPABILITIES[role] for role in roles_of(user))


def roles_with(capability: Capability) -> set[Role]:
    return {role for role, caps in ROLE_CAPABILITIES.items() if capability in caps}


_ROLE_NAMES = {Role.OPERATOR: "operators", Role.MANAGER: "managers", Role.ADMIN: "admins"}


def denied_reason(capability: Capability) -> str:
    """What a 403 page says: who may do this ("Only managers and admins can review calls.")."""
    allowed = [_ROLE_NAMES[role] for role in Role if role in roles_with(capability)]
    who = " and ".join([", ".join(allowed[:-1]), allowed[-1]] if len(allowed) > 1 else allowed)
    return f"Only {who} can {capability.value.replace('_', ' ')}."


View = TypeVar("View", bound=Callable[..., HttpResponse])


def requires(capability: Capability) -> Callable[[View], View]:
    """Page views: anonymous users go to the login page; a user without the capability gets 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_capability(request.user, capability):
                raise PermissionDenied(denied_reason(capability))
            return view(request, *args, **kwargs)

        wrapper.required_capability = capability  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def public(view: View) -> View:
    """Marks a view that anyone may open (login page, webhooks that verify their own secret)."""
    view.is_public = True  # type: ignore[attr-defined]
    return view
