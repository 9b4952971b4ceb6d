"""Finding calls by what was said: numbers, contact names, summary and transcript words.

On PostgreSQL the words of each call's summary and transcript are the stored column
`calls_call.search_document` (calls/migrations/0016_call_search_document.py), with the GIN
index `call_search_idx` over it. The model does not declare the column, so Django never reads
it back; the search only tests it. Every word typed is a prefix (`pric` finds "pricing").

Two plans answer the call log's "newest first, 50 at a time", and which is fast depends on how
many calls mention the words:

- a common word (one in three calls says "pricing"): walk the log's index newest first and test
  each call's stored document until the page is full, about as fast as the page without search;
- a rare word (127 calls in a million say "escrow"): that walk would test most of the table
  before it found 50. The search index finds the few calls, then they are sorted.

PostgreSQL's planner picks between them from its statistics, but for a word its statistics do not
track it assumes one call in 200, and then walks a million calls for a word 127 of them say. So
the choice is made here from the same statistics (`pg_stats.most_common_elems`, the words
ANALYZE found common): for a word that starts none of them, the query first gathers where its
calls are, from the search index and the contacts' index together (each call's row location,
`ctid`, an array computed once before the page), and the page reads those rows directly (a TID
scan: no index walk and no id lookup per match) and sorts them by an expression equal to the
log's order that the log's index cannot give (`created_at + '0 s'`), so the planner cannot walk
the log instead. Row locations are safe here: the array and the page are read in one statement,
with one snapshot. A word the statistics missed although it is frequent (written since the last
ANALYZE) is still answered right, by sorting its many matches.

A contact whose name matches is looked up inside the page's own query (`contact_id =
ANY(ARRAY(SELECT ...))`, run once before the page, and an index condition PostgreSQL ORs with
the others): either way a search is one query.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import (
    BooleanField,
    F,
    Field,
    Func,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import Expression
from django.db.models.functions import Cast

from calls.models import Call
from contacts.models import Contact

# No stemming and no stop words, so names, product words and numbers in any language match as
# typed.
SEARCH_CONFIG = "simple"


class _RowLocationField(Field):
    """PostgreSQL's `tid`: where a row version lies in its table."""

    def db_type(self, connection: Any) -> str:
        return "tid"


class _CallsColumn(Expression):
    """A column of the calls table the model does not declare, under whatever alias the query
    gives the table (`U0`, `V0` inside a subquery): no F() reaches it."""

    def __init__(self, column_sql: str, output_field: Field) -> None:
        super().__init__(output_field=output_field)
        self.column_sql = column_sql

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        table = compiler.quote_name_unless_alias(compiler.query.base_table)
        return f"{table}.{self.column_sql}", []


# The stored `search_document` column (calls/migrations/0016).
SEARCH_DOCUMENT = _CallsColumn('"search_document"', SearchVectorField())
# A call's `ctid`: the place of the row version the statement's snapshot sees, valid for as
# long as that statement runs.
_ROW_LOCATION = _CallsColumn("ctid", _RowLocationField())


# How long a process trusts what it read of the statistics (ANALYZE runs every few minutes to
# hours on a busy table; a word's frequency changes slower than that).
COMMON_WORDS_TTL = 600.0

_WORD = re.compile(r"\w+", re.UNICODE)
_PHONE_LIKE = re.compile(r"^[\d\s()+./-]+$")
# At most this many contacts whose names match are searched for calls.
_MAX_CONTACT_MATCHES = 500

_common_words: tuple[float, frozenset[str]] = (0.0, frozenset())


def search_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())[:12]


def common_words() -> frozenset[str]:
    """The words PostgreSQL's statistics track as common in the searched documents."""
    global _common_words
    read_at, words = _common_words
    if time.monotonic() - read_at < COMMON_WORDS_TTL:
        return words
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_elems::text::text[] FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = 'calls_call' "
            "AND attname = 'search_document'"
        )
        row = cursor.fetchone()
    words = frozenset(row[0] or ()) if row else frozenset()
    _common_words = (time.monotonic(), words)
    return words


def forget_common_words() -> None:
    """Read the statistics again at the next search (tests, after ANALYZE)."""
    global _common_words
    _common_words = (0.0, frozenset())


def _is_common(words: list[str]) -> bool:
    common = common_words()
    return all(any(known.startswith(word) for known in common) for word in words)


class EqualsAny(Func):
    """`column = ANY(array)`: unlike `IN (SELECT ...)` beside an OR, PostgreSQL reads it from
    the column's index, with the array computed once before the query (an InitPlan)."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple]:
        column, array = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column)
        array_sql, array_params = compiler.compile(array)
        return f"{column_sql} = ANY({array_sql})", (*column_params, *array_params)


def _by_contact_name(text: str) -> Q:
    """Calls with a contact whose name contains `text`, inside the calls' own query."""
    contacts = Contact.objects.filter(name__icontains=text).values("pk")[:_MAX_CONTACT_MATCHES]
    if connection.vendor == "postgresql":
        return Q(EqualsAny("contact_id", ArraySubquery(contacts)))
    return Q(contact_id__in=Subquery(contacts))


# The log's order, newest first, as an expression the log's index cannot give: the planner then
# reads a rare word's few matches by id and sorts them (see the module's docstring).
_SORTED_NEWEST_FIRST = ((F("created_at") + Value(timedelta(0))).desc(), "-id")


def search_calls(calls: QuerySet[Call], text: str) -> QuerySet[Call]:
    """`calls` narrowed to those whose number, contact, summary or transcript match `text`.
    For rare words on PostgreSQL they are also ordered newest first, in a way that keeps the
    planner off the log's index: apply it after any other ordering."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if _PHONE_LIKE.match(text) and len(digits) >= 3:
        # A number: "+1 (415) 555" finds +1415555.... on the call or on its contact.
        return calls.filter(Q(to_number__contains=digits) | Q(from_number__contains=digits))
    by_contact = _by_contact_name(text)
    words = search_words(text)
    if not words:
        return calls.filter(by_contact)
    if connection.vendor != "postgresql":
        # SQLite (the embedded default): every word appears in the summary or the transcript.
        calls = calls.annotate(transcript_text=Cast("transcript", TextField()))
        by_text = Q()
        for word in words:
            by_text &= Q(summary__icontains=word) | Q(transcript_text__icontains=word)
        return calls.filter(by_text | by_contact)
    query = SearchQuery(
        " & ".join(f"{word}:*" for word in words), search_type="raw", config=SEARCH_CONFIG
    )
    if _is_common(words):
        return calls.alias(document=SEARCH_DOCUMENT).filter(Q(document=query) | by_contact)
    # Where the matches lie (their row locations), an array computed once before the page: the
    # page then reads exactly those rows, and sorts them. Testing the document in the page's own
    # query instead makes the planner expect one call in 200 and start parallel workers; reading
    # the matches' ids instead costs one primary-key lookup each (1M calls: p95 0.66 → 0.46 ms).
    matches = (
        Call.objects.alias(document=SEARCH_DOCUMENT)
        .filter(Q(document=query) | by_contact)
        .order_by()
        .annotate(location=_ROW_LOCATION)
        .values("location")
    )
    return calls.filter(EqualsAny(_ROW_LOCATION, ArraySubquery(matches))).order_by(
        *_SORTED_NEWEST_FIRST
    )
