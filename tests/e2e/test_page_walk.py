"""Every page as each role in a real browser: no HTTP error the role matrix does not expect, no
console error and no Content-Security-Policy violation; an expected 403 is the styled page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.dashboard.test_roles import ALL_URLS, URL_EXAMPLES, expected_status, is_api_view
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Pages that are files, not screens (the browser downloads them), or regions htmx loads into a
# page (no <head> of their own).
NOT_SCREENS = {
    "calls:human_agents",
    "analytics_export",
    "quality:export",
    "campaigns:arms_csv",
    "campaigns:compliance_report",
    "calls:export",
    "calls:recording",
    "contacts:import_rejected",
    "contacts:import_updates",
    "contacts:export",
    "api_schema",
}

# Recorded in the page before any script runs: CSP violations as the browser reports them.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__csp.push([event.violatedDirective, event.blockedURI || "inline",
                     event.sourceFile + ":" + event.lineNumber].join(" "));
});
"""


def screens_for(role: str) -> list[tuple[str, str, int]]:
    screens = []
    for name, view, pattern in ALL_URLS:
        if name in NOT_SCREENS or is_api_view(view) or getattr(view, "is_public", False):
            continue
        status = expected_status(name, view, role)
        if status not in (200, 403):
            continue  # POST-only actions and redirects are not screens
        kwargs = URL_EXAMPLES[name]() if pattern.pattern.converters else {}
        screens.append((name, reverse(name, kwargs=kwargs), status))
    return screens


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_it_walks_every_page_without_errors(page, role_users, role):
    screens = screens_for(role)
    assert len(screens) > 20
    page.add_init_script(WATCH_CSP)
    console_errors: list[str] = []
    failed_loads: list[str] = []
    page.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    page.on(
        "response",
        lambda response: (
            failed_loads.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    sign_in(page, role_users[role].username, PASSWORD)
    page.wait_for_url("**/")

    problems = []
    for name, url, expected in screens:
        console_errors.clear()
        answer = page.goto(url)
        page.wait_for_load_state("networkidle")
        if expected == 403:
            # The browser reports the page's own 403 on the console; that one is expected.
            console_errors[:] = [e for e in console_errors if "status of 403" not in e]
        problems += [f"{name} {url}: console: {error}" for error in console_errors]
        if answer.status != expected:
            problems.append(f"{name} {url}: HTTP {answer.status}, expected {expected}")
        if expected == 403 and not page.locator(".error-page").is_visible():
            problems.append(f"{name} {url}: a 403 without the styled page")
        violations = page.evaluate("() => window.__csp")
        problems += [f"{name} {url}: CSP {violation}" for violation in violations]
    problems += [f"subresource: {load}" for load in failed_loads]
    assert not problems, "\n".join(problems)


def test_it_notices_a_csp_violation(page, role_users):
    """The watcher above can fail: an inline style attribute is reported."""
    page.add_init_script(WATCH_CSP)
    sign_in(page, role_users["operator"].username, PASSWORD)
    page.wait_for_url("**/")
    page.evaluate("() => document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("() => window.__csp")[0].startswith("style-src")
