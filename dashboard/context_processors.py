from __future__ import annotations

from functools import cache
from typing import Any

from django.http import HttpRequest
from django.urls import get_script_prefix, reverse

from accounts.roles import Capability, capabilities_of, has_capability, primary_role
from vendors.models import VendorAccount, VendorKind

# The main navigation: (label, URL name, capability needed to see and open it). The admin's
# whole bar must fit one line at 1280 px: Callbacks is reached from Calls, Quality from
# Analytics and Review.
NAVIGATION = (
    ("Overview", "overview", Capability.VIEW_OVERVIEW),
    ("Calls", "calls:list", Capability.VIEW_CALLS),
    ("Review", "review", Capability.REVIEW_CALLS),
    ("Campaigns", "campaigns:list", Capability.VIEW_CAMPAIGNS),
    ("Contacts", "contacts:list", Capability.VIEW_CONTACTS),
    ("Agents", "calls:agents", Capability.VIEW_AGENTS),
    ("Post-call", "calls:rules", Capability.MANAGE_POST_CALL_RULES),
    ("Analytics", "analytics", Capability.VIEW_ANALYTICS),
    ("Alerts", "alerts", Capability.VIEW_ALERTS),
    ("Settings", "settings", Capability.MANAGE_SETTINGS),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "nav_items": [],
            "user_role": None,
            "can_trigger_calls": False,
            "show_human_availability": False,
        }
    # Callables, which the template calls only where it prints them: an htmx partial (a page of
    # the call log, a form's errors) renders without the layout and skips them all.
    return {
        "nav_items": lambda: _nav_items(request.path, capabilities_of(user)),
        "user_role": lambda: _role_name(user),
        "can_trigger_calls": lambda: has_capability(user, Capability.TRIGGER_CALLS),
        # The template asks only for people who can trigger calls.
        "show_human_availability": _has_active_voice_account,
    }


def _nav_items(path: str, capabilities: frozenset[Capability]) -> list[dict[str, Any]]:
    items = [
        {"label": label, "url": url, "active": False}
        for label, url, capability in _navigation_urls(get_script_prefix())
        if capability in capabilities
    ]
    # The longest URL that prefixes the current path is the section we are in.
    matching = [item for item in items if path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return items


@cache
def _navigation_urls(script_prefix: str) -> tuple[tuple[str, str, Capability], ...]:
    """The bar's URLs, reversed once per process (and per prefix the site is mounted under)."""
    return tuple(
        (label, reverse(url_name), capability) for label, url_name, capability in NAVIGATION
    )


def _role_name(user: Any) -> str | None:
    role = primary_role(user)
    return role.value if role else None


def _has_active_voice_account() -> bool:
    """The badge of free human agents needs an enabled voice-platform connection."""
    return VendorAccount.objects.filter(kind=VendorKind.VOICE_PLATFORM, is_active=True).exists()
