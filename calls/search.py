"""Finding calls by what was said: numbers, contact names, summary and transcript words.

On PostgreSQL the words of each call's summary and transcript are the stored column
`calls_call.search_document` (calls/migrations/0016_call_search_document.py), with the GIN
index `call_search_idx` over it. The model does not declare the column, so Django never reads
it back; the search only tests it. Every word typed is a prefix (`pric` finds "pricing").

Two plans answer the call log's "newest first, 50 at a time", and which is fast depends on how
many calls mention the words:

- a common word (one in three calls says "pricing"): walk the log's index newest first and test
  each call's stored document until the page is full, about as fast as the page without search;
- a rare word (131 calls in a million say "escrow"): that walk would test most of the table
  before it found 50. The index finds the few calls first, then the page is read by their ids.

PostgreSQL's planner picks between them from its statistics, but for a word its statistics do not
track it assumes one call in 200, and then walks a million calls for a word 131 of them say. So
the choice is made here from the same statistics (`pg_stats.most_common_elems`, the words
ANALYZE found common): a word that starts none of them is looked up in the index first, up to
RARE_MATCHES calls; more than that and it was not rare after all, so the walk answers.
"""

from __future__ import annotations

import re
import time

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from calls.models import Call
from contacts.models import Contact

# No stemming and no stop words, so names, product words and numbers in any language match as
# typed.
SEARCH_CONFIG = "simple"
SEARCH_DOCUMENT = RawSQL('"calls_call"."search_document"', [], output_field=SearchVectorField())
# A rare word's calls are found through the index first, up to this many.
RARE_MATCHES = 2000
# How long a process trusts what it read of the statistics (ANALYZE runs every few minutes to
# hours on a busy table; a word's frequency changes slower than that).
COMMON_WORDS_TTL = 600.0

_WORD = re.compile(r"\w+", re.UNICODE)
_PHONE_LIKE = re.compile(r"^[\d\s()+./-]+$")
# Contacts whose names match are looked up first, so the call query stays index-friendly
# (`contact_id IN (1, 2, ...)` and the search index can be OR-ed by PostgreSQL).
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


def search_calls(calls: QuerySet[Call], text: str) -> QuerySet[Call]:
    """`calls` narrowed to those whose number, contact, summary or transcript match `text`."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if _PHONE_LIKE.match(text) and len(digits) >= 3:
        # A number: "+1 (415) 555" finds +1415555.... on the call or on its contact.
        return calls.filter(Q(to_number__contains=digits) | Q(from_number__contains=digits))
    contact_ids = list(
        Contact.objects.filter(name__icontains=text).values_list("pk", flat=True)[
            :_MAX_CONTACT_MATCHES
        ]
    )
    by_contact = Q(contact_id__in=contact_ids)
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
    if not _is_common(words):
        found = list(
            Call.objects.alias(document=SEARCH_DOCUMENT)
            .filter(document=query)
            .values_list("pk", flat=True)[: RARE_MATCHES + 1]
        )
        if len(found) <= RARE_MATCHES:
            return calls.filter(Q(pk__in=found) | by_contact)
    return calls.alias(document=SEARCH_DOCUMENT).filter(Q(document=query) | by_contact)
