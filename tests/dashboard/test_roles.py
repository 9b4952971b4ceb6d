"""The role matrix: every URL name of the project, opened by every role, answers as the rules say.

A URL whose view declares no rule (neither @requires nor @public) fails the matrix, so a new
page cannot ship without deciding who may open it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dashboard.roles import ROLE_CAPABILITIES, Capability, Role, has_capability, requires

ROLES = ("anonymous", "operator", "manager", "admin")

# Public views answer the same for everyone unless listed per role here.
PUBLIC_EXPECTATIONS: dict[str, dict[str, int]] = {
    "login": {"anonymous": 200, "operator": 302, "manager": 302, "admin": 302},
    "logout": dict.fromkeys(ROLES, 405),  # POST only
}

# Path arguments for URLs that take some: each builds the objects it names (tests/factories.py)
# and returns the kwargs for reverse().
URL_EXAMPLES: dict[str, Callable[[], dict[str, Any]]] = {}

# Views whose GET answers something other than 200 for a permitted user.
PERMITTED_GET_STATUS: dict[str, int] = {}


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


def expected_status(name: str, view: Callable[..., Any], role: str) -> int:
    if getattr(view, "is_public", False):
        return PUBLIC_EXPECTATIONS[name][role]
    capability = getattr(view, "required_capability", None) or view.cls.required_capability
    if role == "anonymous":
        return 302
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
        ("operator", ["Calls", "Campaigns", "Contacts", "Agents"], ["Analytics", "Settings"]),
        ("manager", ["Calls", "Analytics"], ["Settings"]),
        ("admin", ["Calls", "Analytics", "Settings"], []),
    ],
)
def test_it_shows_only_the_navigation_a_role_may_open(client_as, role, visible, hidden):
    page = client_as(role).get(reverse("overview")).content.decode()
    nav = page[page.index('<nav aria-label="Main">') : page.index("</nav>")]
    for label in visible:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav
