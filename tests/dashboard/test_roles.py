"""The role matrix: every URL name of the project, opened by every role, answers as the rules say.

A URL whose view declares no rule (neither @requires nor @public) fails the matrix, so a new
page cannot ship without deciding who may open it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from accounts.roles import ROLE_CAPABILITIES, Capability, Role, has_capability, requires
from campaigns.models import CampaignArm
from contacts.models import ContactList
from tests import factories

ROLES = ("anonymous", "operator", "manager", "admin")

# Public views answer the same for everyone unless listed per role here.
PUBLIC_EXPECTATIONS: dict[str, dict[str, int]] = {
    "login": {"anonymous": 200, "operator": 302, "manager": 302, "admin": 302},
    "logout": dict.fromkeys(ROLES, 405),  # POST only
    "webhook": dict.fromkeys(ROLES, 405),  # POST only, authenticated by its URL token
}

# Path arguments for URLs that take some: each builds the objects it names (tests/factories.py)
# and returns the kwargs for reverse().
URL_EXAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "campaigns:detail": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:edit": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:launch": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:pause": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:resume": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:stop": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:arms": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:arms_csv": lambda: {"pk": factories.CampaignFactory().pk},
    "campaigns:arm_weight": lambda: _arm_kwargs(),
    "campaigns:arm_stop": lambda: _arm_kwargs(),
    "api_campaign": lambda: {"pk": factories.CampaignFactory().pk},
    "api_campaign_launch": lambda: {"pk": factories.CampaignFactory().pk},
    "api_campaign_pause": lambda: {"pk": factories.CampaignFactory().pk},
    "api_campaign_resume": lambda: {"pk": factories.CampaignFactory().pk},
    "api_campaign_stop": lambda: {"pk": factories.CampaignFactory().pk},
    "api_call": lambda: {"pk": factories.CallFactory().pk},
    "calls:agent": lambda: {"pk": factories.AgentFactory().pk},
    # An account the sandbox is not running at: the page shows the stored state and the error.
    "calls:speaker": lambda: {"pk": factories.SpeakerFactory().pk},
    "calls:speaker_samples": lambda: {"pk": factories.SpeakerFactory().pk},
    "calls:speaker_deploy": lambda: {"pk": factories.SpeakerFactory().pk},
    "calls:end": lambda: {"pk": factories.CallFactory().pk},
    "calls:transfer": lambda: {"pk": factories.CallFactory().pk},
    "calls:handoff": lambda: {"pk": factories.CallFactory().pk},
    "api_webhook_replay": lambda: {"pk": factories.WebhookEventFactory().pk},
    "calls:webhook_event": lambda: {"pk": factories.WebhookEventFactory().pk},
    "calls:webhook_replay": lambda: {"pk": factories.WebhookEventFactory().pk},
    "webhook": lambda: {"vendor": "revrag", "token": "unknown-token"},
    "contacts:detail": lambda: {"pk": factories.ContactFactory().pk},
    "contacts:edit": lambda: {"pk": factories.ContactFactory().pk},
    "contacts:delete": lambda: {"pk": factories.ContactFactory().pk},
    "contacts:dnc_remove": lambda: {"pk": factories.DoNotCallEntryFactory().pk},
    "contacts_api:do_not_call_remove": lambda: {"pk": factories.DoNotCallEntryFactory().pk},
    "contacts:list_remove": lambda: {
        "pk": factories.ContactFactory().pk,
        "list_pk": ContactList.objects.create(name="Example list").pk,
    },
    "contacts:import_detail": lambda: {"pk": factories.ContactImportFactory().pk},
    "contacts:import_rejected": lambda: {"pk": factories.ContactImportFactory().pk},
    "contacts:import_updates": lambda: {"pk": factories.ContactImportFactory().pk},
    "contacts_api:import_status": lambda: {"pk": factories.ContactImportFactory().pk},
    "contacts:push_detail": lambda: {"pk": factories.CustomerPushFactory().pk},
    "calls:detail": lambda: {"pk": factories.CallFactory().pk},
    "calls:recording": lambda: {"pk": factories.CallFactory().pk},
    "settings_vendor": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_test": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_usage": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_webhooks": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_retire_secret": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_rotate": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_active": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_limits": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_vendor_breaker_close": lambda: {"pk": factories.VendorAccountFactory().pk},
    "settings_user": lambda: {"pk": factories.UserFactory().pk},
    "settings_user_active": lambda: {"pk": factories.UserFactory().pk},
    "settings_token_revoke": lambda: {"pk": factories.ApiTokenFactory().pk},
    "review_save": lambda: {"pk": factories.CallFactory(state="ended").pk},
    "calls:rule_edit": lambda: {"pk": factories.PostCallRuleFactory().pk},
    "calls:rule_delete": lambda: {"pk": factories.PostCallRuleFactory().pk},
    "calls:step_retry": lambda: _step_kwargs(factories.PostCallStepFactory()),
}


def _arm_kwargs() -> dict[str, Any]:
    campaign = factories.CampaignFactory()
    arm = CampaignArm.objects.create(
        campaign=campaign, position=1, vendor_account=campaign.vendor_account, agent=campaign.agent
    )
    return {"pk": campaign.pk, "arm_id": arm.pk}


def _step_kwargs(step: Any) -> dict[str, Any]:
    return {"pk": step.call_id, "step_pk": step.pk}


# Views whose GET answers something other than 200 for a permitted user.
PERMITTED_GET_STATUS: dict[str, int] = {
    "api_campaign_launch": 405,  # POST only
    "api_campaign_pause": 405,  # POST only
    "api_campaign_resume": 405,  # POST only
    "api_campaign_stop": 405,  # POST only
    "calls:webhook_replay": 405,  # POST only
    "api_webhook_replay": 405,  # POST only
    "calls:transfer": 405,  # POST only
    "calls:handoff": 405,  # POST only
    "calls:voice_refresh": 405,  # POST only
    "calls:speaker_samples": 405,  # POST only
    "calls:speaker_deploy": 405,  # POST only
    # No voice-platform connection in the matrix: the create pages send people back to agents.
    "calls:agent_new": 302,
    "calls:flow_new": 302,
    "calls:speaker_new": 302,
    "contacts:list_remove": 405,  # POST only
    "contacts_api:do_not_call_remove": 405,  # POST only
    "contacts:push": 302,  # nothing ticked: back to the contacts page
    "settings_vendor_webhooks": 405,  # POST only
    "settings_vendor_retire_secret": 405,  # POST only
    "contacts_api:import": 405,  # POST only
    "calls:recording": 404,  # the example call has no recording
    "settings_vendor_test": 405,  # POST only
    "settings_vendor_rotate": 405,  # POST only
    "settings_vendor_limits": 405,  # POST only
    "settings_compliance_defaults": 405,  # POST only
    "review_save": 405,  # POST only
    "calls:step_retry": 405,  # POST only
    "campaigns:arm_weight": 405,  # POST only
    "analytics_export": 400,  # needs ?chart=
}


def iter_patterns(
    patterns: list[Any], prefix: str = ""
) -> Iterator[tuple[str, Callable[..., Any], URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from iter_patterns(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{prefix}{entry.name}", entry.callback, entry


def rule_problem(name: str, view: Callable[..., Any]) -> str | None:
    if getattr(view, "is_public", False):
        return None if name in PUBLIC_EXPECTATIONS else f"{name} is public but has no expectations"
    if getattr(view, "required_capability", None) is None and not getattr(
        getattr(view, "cls", None), "required_capability", None
    ):
        return f"{name} declares no access rule (@requires or @public)"
    return None


def is_api_view(view: Callable[..., Any]) -> bool:
    """A Django REST framework view (function or class): it answers, it does not redirect."""
    view_class = getattr(view, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def expected_status(name: str, view: Callable[..., Any], role: str) -> int:
    if getattr(view, "is_public", False):
        return PUBLIC_EXPECTATIONS[name][role]
    capability = getattr(view, "required_capability", None) or view.cls.required_capability
    if role == "anonymous":
        # API clients get 401 (the token authentication asks for credentials); pages redirect to
        # the login page.
        return 401 if is_api_view(view) else 302
    if capability in ROLE_CAPABILITIES[Role(role)]:
        return PERMITTED_GET_STATUS.get(name, 200)
    return 403


ALL_URLS = sorted(iter_patterns(get_resolver().url_patterns), key=lambda item: item[0])


def test_it_finds_the_project_urls():
    names = {name for name, _view, _pattern in ALL_URLS}
    assert {"overview", "login", "calls:list", "settings"} <= names


def test_it_gives_every_url_an_access_rule():
    problems = [rule_problem(name, view) for name, view, _pattern in ALL_URLS]
    assert [problem for problem in problems if problem] == []


def test_it_expects_401_from_an_api_view_for_anonymous_requests():
    from accounts import api

    assert is_api_view(api.me)
    assert expected_status("api_me", api.me, "anonymous") == 401
    assert expected_status("api_audit_events", api.audit_events, "operator") == 403


def test_it_flags_a_view_without_a_rule():
    def naked_view(request):
        raise AssertionError("never called")

    problem = rule_problem("naked", naked_view)
    assert problem == "naked declares no access rule (@requires or @public)"
    guarded = requires(Capability.VIEW_CALLS)(naked_view)
    assert rule_problem("guarded", guarded) is None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "view", "pattern"), ALL_URLS, ids=[u[0] for u in ALL_URLS])
def test_it_answers_each_role_as_the_rules_say(client_as, role, name, view, pattern):
    if pattern.pattern.converters:
        assert name in URL_EXAMPLES, f"{name} takes arguments: add an example to URL_EXAMPLES"
        kwargs = URL_EXAMPLES[name]()
    else:
        kwargs = {}
    response = client_as(role).get(reverse(name, kwargs=kwargs))
    assert response.status_code == expected_status(name, view, role), name
    if role == "anonymous" and response.status_code == 302 and not view_is_public(view):
        assert response["Location"].startswith(reverse("login"))


def view_is_public(view: Callable[..., Any]) -> bool:
    return getattr(view, "is_public", False)


def test_it_treats_superusers_as_admins(make_user):
    root = make_user("root", is_superuser=True)
    assert all(has_capability(root, capability) for capability in Capability)


def test_it_gives_an_inactive_user_no_capability(make_user):
    gone = make_user("gone", Role.ADMIN, is_active=False)
    assert not has_capability(gone, Capability.VIEW_OVERVIEW)


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        (
            "operator",
            ["Calls", "Campaigns", "Contacts", "Agents"],
            ["Review", "Analytics", "Settings"],
        ),
        ("manager", ["Calls", "Review", "Analytics"], ["Settings"]),
        ("admin", ["Calls", "Review", "Analytics", "Settings"], []),
    ],
)
def test_it_shows_only_the_navigation_a_role_may_open(client_as, role, visible, hidden):
    page = client_as(role).get(reverse("overview")).content.decode()
    nav = page[page.index('<nav aria-label="Main">') : page.index("</nav>")]
    for label in visible:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav
