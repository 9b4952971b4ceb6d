from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.roles import Capability, has_capability, primary_role
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
    items = [
        {"label": label, "url": reverse(url_name), "active": False}
        for label, url_name, capability in NAVIGATION
        if has_capability(user, capability)
    ]
    # The longest URL that prefixes the current path is the section we are in.
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    role = primary_role(user)
    return {
        "nav_items": items,
        "user_role": role.value if role else None,
        "can_trigger_calls": has_capability(user, Capability.TRIGGER_CALLS),
        # A callable: the template asks only for people who can trigger calls.
        "show_human_availability": _has_active_voice_account,
    }


def _has_active_voice_account() -> bool:
    """The badge of free human agents needs an enabled voice-platform connection."""
    return VendorAccount.objects.filter(kind=VendorKind.VOICE_PLATFORM, is_active=True).exists()
