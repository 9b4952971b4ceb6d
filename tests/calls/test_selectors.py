"""Reads of the call log: filters, search, keyset pagination, the transcript."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls import search
from calls.call_log import BadCursor, call_page, decode_cursor
from calls.models import Call, CallOutcome, CallState
from calls.selectors import CallFilters, call_filter_options, call_list, call_transcript
from campaigns.models import Campaign
from contacts.models import Contact
from tests.factories import (
    AgentFactory,
    CallFactory,
    CampaignFactory,
    ContactFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db


def ids(calls) -> list[int]:
    return [call.pk for call in calls]


def test_it_lists_calls_newest_first():
    first, second, third = CallFactory(), CallFactory(), CallFactory()
    assert ids(call_list()) == [third.pk, second.pk, first.pk]


def test_it_pages_by_keyset_without_gaps_or_duplicates_on_equal_times():
    calls = [CallFactory() for _ in range(11)]
    # Several calls created in the same microsecond: the id breaks the tie.
    same = timezone.now() - timedelta(minutes=5)
    Call.objects.filter(pk__in=[call.pk for call in calls[2:9]]).update(created_at=same)
    expected = ids(call_list())
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        page = call_page(after=cursor, size=3)
        seen += ids(page.calls)
        pages += 1
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == expected
    assert len(set(seen)) == 11
    assert pages == 4


def test_it_keeps_its_place_when_new_calls_arrive():
    for _ in range(4):
        CallFactory()
    page = call_page(size=2)
    newer = CallFactory()
    rest = call_page(after=page.next_cursor, size=10)
    assert newer.pk not in ids(rest.calls)
    assert len(page.calls) + len(rest.calls) == 4


def test_it_refuses_a_mangled_cursor():
    for bad in ("nope", "2026-01-01T00:00:00~x", "2026-01-01T00:00:00~5", "~3"):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_it_filters_by_each_field():
    campaign = CampaignFactory()
    ended = CallFactory(
        state=CallState.ENDED,
        outcome=CallOutcome.NOT_PICKED,
        vendor_outcome="CALL_NOT_PICKED",
        duration_seconds=30,
        recording_url="https://api.revrag.ai/r/1.wav",
        campaign=campaign,
        vendor_account=campaign.vendor_account,
        agent=campaign.agent,
    )
    stale = CallFactory(state=CallState.RUNNING, is_stale=True, duration_seconds=300)
    other = CallFactory()
    Call.objects.filter(pk=other.pk).update(created_at=timezone.now() - timedelta(days=10))

    def matching(**kwargs) -> list[int]:
        return ids(call_list(filters=CallFilters(**kwargs)))

    assert matching(state="ended") == [ended.pk]
    assert matching(outcome="not_picked") == [ended.pk]
    assert matching(vendor_outcome="call_not_picked") == [ended.pk]
    assert matching(vendor_account_id=ended.vendor_account_id) == [ended.pk]
    assert matching(agent_id=stale.agent_id) == [stale.pk]
    assert matching(campaign_id=campaign.pk) == [ended.pk]
    assert matching(has_recording=True) == [ended.pk]
    assert set(matching(has_recording=False)) == {stale.pk, other.pk}
    assert matching(is_stale=True) == [stale.pk]
    assert matching(min_duration=100) == [stale.pk]
    assert matching(max_duration=100) == [ended.pk]
    today = timezone.localdate()
    assert set(matching(created_from=today)) == {ended.pk, stale.pk}
    assert matching(created_to=today - timedelta(days=5)) == [other.pk]
    assert matching(created_from=today, created_to=today, state="running") == [stale.pk]
    assert matching(created_from=date(2000, 1, 1), created_to=date(2000, 1, 2)) == []


def test_it_searches_numbers_contacts_summaries_and_transcripts():
    # Not a 415 number: ContactFactory hands those out in sequence, and one would match.
    by_number = CallFactory(to_number="+16505550199", contact=None)
    by_contact = CallFactory(contact=ContactFactory(name="Priya Raman"))
    by_summary = CallFactory(summary="The customer asked for a callback next Tuesday.")
    by_transcript = CallFactory(
        transcript=[{"speaker": "customer", "text": "I would like the premium plan", "start": 1.0}]
    )
    CallFactory(summary="Nothing to see here.")

    def found(text: str) -> list[int]:
        return ids(call_list(filters=CallFilters(search=text)))

    assert found("+1 (650) 555-0199") == [by_number.pk]
    assert found("priya") == [by_contact.pk]
    assert found("callback") == [by_summary.pk]
    assert found("Tuesday callback") == [by_summary.pk]
    assert found("premium") == [by_transcript.pk]
    assert found("zzzz-nothing") == []


def test_it_reads_the_transcript_defensively():
    call = CallFactory(
        transcript=[
            {"speaker": "agent", "text": "Hello", "start": 0, "end": 1.5},
            {"speaker": "customer", "text": "Hi", "start": "75.2", "end": None},
            {"speaker": "agent", "text": ""},
            "not a turn",
            {"speaker": None, "text": "Who?", "start": True},
        ]
    )
    turns = call_transcript(call=call)
    assert [turn.text for turn in turns] == ["Hello", "Hi", "Who?"]
    assert turns[1].start == 75.2
    assert turns[1].clock == "01:15"
    assert turns[2].start is None
    assert turns[2].label == "Speaker"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_it_uses_the_search_index_on_postgresql():
    """The stored document has the migration's index: PostgreSQL answers from it."""
    CallFactory(summary="callback on Tuesday")
    with connection.cursor() as cursor:
        # A tiny table is cheapest to scan whole (or along another index, depending on the
        # statistics earlier tests left): rule both out so the plan shows what is possible.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    query = SearchQuery("callback:*", search_type="raw", config=search.SEARCH_CONFIG)
    plan = Call.objects.alias(document=search.SEARCH_DOCUMENT).filter(document=query).explain()
    assert "call_search_idx" in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_it_tells_common_words_from_rare_ones_by_the_statistics():
    for n in range(30):
        CallFactory(summary=f"Pricing question number {n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_call")
    search.forget_common_words()
    try:
        assert "pricing" in search.common_words()
        assert search._is_common(["pric"])
        assert not search._is_common(["escrow"])
        assert not search._is_common(["pricing", "escrow"])
    finally:
        search.forget_common_words()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_it_reads_a_rare_words_calls_where_they_lie_and_sorts_them_in_one_query(monkeypatch):
    """The log's index would answer "newest first" by walking every call: for a rare word the
    page gathers where its calls lie (search index and contact names together), reads those
    rows and sorts them by an order the log's index cannot give (the benchmark shows the plan
    on a million calls; a tiny table is planned differently)."""
    monkeypatch.setattr(search, "common_words", lambda: frozenset({"pricing"}))
    escrow = CallFactory(summary="Asked about escrow.")
    rare = call_list(filters=CallFilters(search="escrow"))
    sql = str(rare.query)
    assert 'WHERE "calls_call".ctid = ANY(ARRAY(SELECT V0.ctid' in sql
    # The subquery's own calls, not correlated, with the contacts' names inside it.
    assert 'V0."search_document" @@' in sql and 'V0."contact_id" = ANY(ARRAY(' in sql
    assert 'ORDER BY ("calls_call"."created_at" + ' in sql
    with CaptureQueriesContext(connection) as captured:
        assert [call.pk for call in call_page(filters=CallFilters(search="escrow")).calls] == [
            escrow.pk
        ]
    assert len(captured.captured_queries) == 1
    common = str(call_list(filters=CallFilters(search="pricing")).query)
    assert '"search_document" @@' in common and "ctid" not in common
    assert common.endswith('ORDER BY "calls_call"."created_at" DESC, "calls_call"."id" DESC')


@pytest.mark.parametrize("common", [frozenset(), frozenset({"escrow"})])
def test_it_pages_a_search_with_other_filters_without_gaps_or_duplicates(monkeypatch, common):
    """Both plans page by the same cursor, ties broken by id, other filters applied."""
    monkeypatch.setattr(search, "common_words", lambda: common)
    agent = AgentFactory()
    contact = ContactFactory(name="Escrow Partners")
    matches = [CallFactory(agent=agent, summary=f"escrow question {n}") for n in range(5)]
    matches += [CallFactory(agent=agent, contact=contact) for _ in range(3)]
    CallFactory(summary="escrow, another agent")
    CallFactory(agent=agent, summary="nothing to see")
    same = timezone.now() - timedelta(minutes=5)
    Call.objects.filter(pk__in=[call.pk for call in matches[1:6]]).update(created_at=same)
    filters = CallFilters(search="escrow", agent_id=agent.pk)
    seen: list[int] = []
    cursor = ""
    while True:
        page = call_page(filters=filters, after=cursor, size=3)
        seen += ids(page.calls)
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == ids(call_list().filter(pk__in=[call.pk for call in matches]))
    assert len(seen) == 8


@pytest.mark.parametrize("common", [frozenset(), frozenset({"escrow"})])
def test_it_finds_the_same_calls_whichever_plan_answers(monkeypatch, common):
    """Rare words are read from the search index and sorted, common ones by the walk down the
    log: both give the same calls, newest first, and a contact's name still matches."""
    monkeypatch.setattr(search, "common_words", lambda: common)
    older = CallFactory(summary="Asked about escrow.")
    newer = CallFactory(transcript=[{"speaker": "customer", "text": "Escrow, please"}])
    by_name = CallFactory(contact=ContactFactory(name="Escrow Holdings"))
    CallFactory(summary="Nothing to see here.")
    found = ids(call_list(filters=CallFilters(search="escr")))
    assert sorted(found) == sorted([older.pk, newer.pk, by_name.pk])
    assert found == ids(call_list().filter(pk__in=found))


def test_it_finds_a_call_by_words_written_after_it_was_created():
    """The searched document follows every write, whatever writes it (PostgreSQL's stored
    column; SQLite reads the fields themselves)."""
    call = CallFactory(summary="", transcript=[])
    assert ids(call_list(filters=CallFilters(search="escrow"))) == []
    Call.objects.filter(pk=call.pk).update(
        transcript=[{"speaker": "customer", "text": "What about escrow?", "start": 2.0}]
    )
    assert ids(call_list(filters=CallFilters(search="escrow"))) == [call.pk]
    Call.objects.filter(pk=call.pk).update(transcript=[], summary="Escrow agreed.")
    assert ids(call_list(filters=CallFilters(search="escrow"))) == [call.pk]
    Call.objects.filter(pk=call.pk).update(summary="")
    assert ids(call_list(filters=CallFilters(search="escrow"))) == []


def test_it_offers_the_filter_choices_sorted_in_one_query(django_assert_num_queries):
    zed = VendorAccountFactory(kind="revrag", name="Zed")
    alpha = VendorAccountFactory(kind="revrag", name="Alpha")
    VendorAccountFactory(kind="revont", name="Records only")  # not a calling vendor
    bob, ann = AgentFactory(vendor_account=zed, name="Bob"), AgentFactory(name="Ann")
    older, newer = CampaignFactory(name="Older"), CampaignFactory(name="Newer")
    Campaign.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))
    with django_assert_num_queries(1):
        options = call_filter_options()
    accounts = [name for _pk, name in options["accounts"]]
    assert accounts[:1] == ["Alpha"] and accounts[-1] == "Zed"
    assert "Records only" not in accounts and alpha.pk in [pk for pk, _name in options["accounts"]]
    assert [pk for pk, _name in options["agents"] if pk in (ann.pk, bob.pk)] == [ann.pk, bob.pk]
    assert [name for _pk, name in options["campaigns"]][:2] == ["Newer", "Older"]
    assert newer.pk == options["campaigns"][0][0]


def test_it_reads_only_what_the_log_shows_and_starts_a_later_page_with_a_range():
    calls = [CallFactory(transcript=[{"speaker": "agent", "text": "long"}]) for _ in range(3)]
    page = call_page(size=1)
    with CaptureQueriesContext(connection) as captured:
        rest = call_page(after=page.next_cursor, size=5)
    assert [c.pk for c in page.calls + rest.calls] == [c.pk for c in reversed(calls)]
    # A bound the log index can seek to, not only an OR that makes the database walk to it.
    (sql,) = [q["sql"] for q in captured.captured_queries]
    assert '"calls_call"."created_at" <=' in sql
    for large in ("transcript", "last_payload", "summary", "extracted_variables"):
        assert f'"calls_call"."{large}"' not in sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_it_finds_contacts_by_part_of_their_name_through_the_trigram_index():
    ContactFactory(name="Maria Garcia")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Contact.objects.filter(name__icontains="garc").explain()
    assert "contact_name_trgm_idx" in plan


def test_it_prints_log_times_as_the_date_filter_would_in_the_current_zone():
    from django.template import Context, Template
    from django.utils.timezone import override

    from calls.call_log import log_rows

    template = Template('{{ moment|date:"j M H:i:s" }}')
    moments = [
        timezone.now(),
        datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # New York's clocks go forward
        datetime(2026, 11, 1, 5, 30, 0, tzinfo=UTC),  # and back
        datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
    ]
    values = [
        {
            "pk": 7,
            "created_at": moment,
            "to_number": "+14155550100",
            "state": CallState.ENDED,
            "is_stale": False,
            "common_outcome": "no_answer",
            "vendor_outcome": "CALL_NOT_PICKED",
            "duration_seconds": 75,
            "recording_url": "",
            "agent__name": None,
            "contact_id": None,
            "contact__name": None,
        }
        for moment in moments
    ]
    for zone in ("America/New_York", "Asia/Kolkata", "UTC"):
        with override(zone):
            rows = log_rows(values)
            expected = [template.render(Context({"moment": moment})) for moment in moments]
        assert [row.created for row in rows] == expected
    row = rows[0]
    assert (row.outcome, row.vendor_outcome_label, row.duration) == (
        "No answer",
        "Call not picked",
        "1 min 15 s",
    )
    assert (row.agent, row.contact, row.has_recording) == ("—", "—", False)
    assert row.url == "/calls/7/"
