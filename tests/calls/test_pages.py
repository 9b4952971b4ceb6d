"""The call log page: roles, filters in the query string, "Load more", CSV export, query count."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calls.models import CallState
from contacts.csv_export import inert_cell
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db

LIST = reverse("calls:list")
EXPORT = reverse("calls:export")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_it_shows_the_call_log_to_every_role(client_as, role):
    CallFactory(to_number="+14155550111")
    response = client_as(role).get(LIST)
    assert response.status_code == 200
    assert "+14155550111" in response.content.decode()


def test_it_sends_anonymous_users_to_the_login_page(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_offers_new_call_only_to_roles_that_may_trigger(client_as):
    assert reverse("calls:new") in client_as("operator").get(LIST).content.decode()
    assert reverse("calls:new") not in client_as("manager").get(LIST).content.decode()


def test_it_shows_an_empty_state(client_as):
    page = client_as("manager").get(LIST).content.decode()
    assert "No calls yet" in page


def test_it_filters_from_the_query_string_and_keeps_the_values(client_as):
    CallFactory(to_number="+14155550111", state=CallState.ENDED)
    CallFactory(to_number="+14155550222", state=CallState.FAILED)
    response = client_as("manager").get(LIST, {"state": "failed"})
    page = response.content.decode()
    assert "+14155550222" in page
    assert "+14155550111" not in page
    assert '<option value="failed" selected>' in page


def test_it_says_when_no_call_matches(client_as):
    CallFactory()
    page = client_as("manager").get(LIST, {"q": "nobody-at-all"}).content.decode()
    assert "No call matches “nobody-at-all”" in page


def test_it_ignores_a_bad_filter_value_and_says_so(client_as):
    CallFactory(to_number="+14155550111")
    response = client_as("manager").get(LIST, {"min_duration": "abc"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "+14155550111" in page
    assert "Some filters were ignored" in page


def test_it_answers_an_htmx_filter_change_with_the_results_only(client_as):
    CallFactory(to_number="+14155550111")
    response = client_as("manager").get(LIST, {"q": ""}, HTTP_HX_TARGET="results", **HTMX)
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="results"')
    assert "<html" not in page


def test_it_loads_more_rows_by_keyset_with_and_without_htmx(client_as, monkeypatch):
    monkeypatch.setattr("calls.call_log.PAGE_SIZE", 2)
    calls = [CallFactory(to_number=f"+1415555{n:04d}") for n in range(5)]
    client = client_as("manager")
    first = client.get(LIST).context["page"]
    assert first.has_more
    # Without JavaScript: a plain link to the next page.
    page = client.get(LIST, {"after": first.next_cursor})
    assert page.status_code == 200
    # With htmx: the rows only, plus the new "Load more" link out of band.
    rows = client.get(LIST, {"after": first.next_cursor}, HTTP_HX_TARGET="call-rows", **HTMX)
    html = rows.content.decode()
    assert "<table" not in html
    assert 'id="load-more"' in html and 'hx-swap-oob="true"' in html
    second = page.context["page"]
    assert [call.to_number in html for call in second.calls] == [True, True]
    seen = [call.pk for call in first.calls + second.calls]
    assert seen == [call.pk for call in reversed(calls)][:4]


def test_it_answers_400_for_a_broken_cursor(client_as):
    assert client_as("manager").get(LIST, {"after": "garbage"}).status_code == 400


def count_queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(queries)


def test_it_uses_the_same_number_of_queries_for_5_or_50_calls(client_as):
    client = client_as("manager")
    contact = ContactFactory()
    for _ in range(5):
        CallFactory(contact=contact, summary="hello")
    few = count_queries(client, LIST)
    few_search = count_queries(client, LIST, {"q": "hello"})
    for _ in range(45):
        CallFactory(summary="hello")
    assert count_queries(client, LIST) == few
    assert count_queries(client, LIST, {"q": "hello"}) == few_search
    assert few <= 8


def test_it_exports_the_filtered_calls_as_csv(client_as):
    CallFactory(to_number="+14155550111", state=CallState.ENDED, summary="=HYPERLINK(evil)")
    CallFactory(to_number="+14155550222", state=CallState.FAILED)
    response = client_as("manager").get(EXPORT, {"state": "ended"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["to_number"] for row in rows] == ["+14155550111"]
    assert rows[0]["summary"] == "'=HYPERLINK(evil)"


def test_it_links_the_export_with_the_current_filters(client_as):
    CallFactory(state=CallState.ENDED)
    page = client_as("manager").get(LIST, {"state": "ended"}).content.decode()
    assert f"{EXPORT}?state=ended" in page


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("\t=1", "'\t=1"),
        ("+14155550111", "+14155550111"),
        ("plain", "plain"),
        (None, ""),
        (42, "42"),
    ],
)
def test_it_neutralises_formulas_in_csv_cells(value, written):
    assert inert_cell(value) == written


def test_it_escapes_every_cell_of_the_call_log_rows(client_as):
    """The rows are made in Python (calls/call_log.py): every value a vendor, an import or a
    user wrote is escaped there as the template engine would."""
    hostile = '<img src=x onerror="alert(1)">'
    call = CallFactory(
        contact=ContactFactory(name=hostile),
        agent__name=f"Agent {hostile}",
        vendor_outcome='BAD"<b>',
        is_stale=True,
        recording_url="https://example.test/r.mp3",
        duration_seconds=65,
    )
    page = client_as("operator").get(LIST).content.decode()
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert 'title="The vendor\'s code: BAD&quot;&lt;b&gt;"' in page
    row = page[page.index(f'href="/calls/{call.pk}/"') :]
    row = row[: row.index("</tr>")]
    assert "stale</span>" in row
    assert ">rec</span>" in row
    assert '<td class="num">1 min 5 s</td>' in row
