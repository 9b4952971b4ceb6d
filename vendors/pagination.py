"""Walking a vendor's list endpoint page by page, always with the largest page it allows.

Each helper is a generator of `Page`s: a page carries its items and the position to resume
from, so a sync job can store `page.resume_cursor` (or offset) and continue there next time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class CursorPage(Generic[ItemT]):
    items: tuple[ItemT, ...]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class CountedPage(Generic[ItemT]):
    """A skip/limit or offset/limit page: the items and the vendor's total at that moment."""

    items: tuple[ItemT, ...]
    total: int
    offset: int


def walk_cursor(
    fetch: Callable[[str | None, int], CursorPage[ItemT]],
    *,
    cursor: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[CursorPage[ItemT]]:
    """Pages from `cursor` (None: the beginning) until `has_more` is false.

    The last page's `next_cursor` is where the next sync resumes; a vendor that returns none
    on the last page leaves the caller's stored cursor as it was.
    """
    while True:
        page = fetch(cursor, page_size)
        yield page
        if not page.has_more or not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor


def walk_offset(
    fetch: Callable[[int, int], CountedPage[ItemT]],
    *,
    offset: int = 0,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[CountedPage[ItemT]]:
    """Pages from `offset` until the vendor's total is reached or a page comes back short.

    Serves both CallCov's skip/limit and the voice platform's offset/limit.
    """
    while True:
        page = fetch(offset, page_size)
        yield page
        offset += len(page.items)
        if not page.items or len(page.items) < page_size or offset >= page.total:
            return
