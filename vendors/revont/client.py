"""Revont: read-only records of sales calls made by human reps, with cursor pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

from vendors.base import VendorClient
from vendors.http import BEARER
from vendors.pagination import MAX_PAGE_SIZE, CursorPage, walk_cursor
from vendors.parsing import as_object, object_list, optional_bool, optional_str
from vendors.revont.schemas import CallRecord

OUTCOMES = ("won", "lost", "follow_up", "no_outcome")


class RevontClient(VendorClient):
    vendor = "revont"
    auth = BEARER

    @classmethod
    def normalise_base_url(cls, base_url: str) -> str:
        # The document gives ".../v1/calls" as the base URL, the public pages ".../v1" with a
        # /calls path: accept both by keeping the base at .../v1.
        base = base_url.rstrip("/")
        return base.removesuffix("/calls")

    def list_calls(
        self,
        *,
        cursor: str | None = None,
        limit: int = MAX_PAGE_SIZE,
        rep_id: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        outcome: str | None = None,
    ) -> CursorPage[CallRecord]:
        """One page, oldest first. The last page's `next_cursor` is where the next sync starts."""
        response = self.http.request(
            "GET",
            "/calls",
            params={
                "limit": limit,
                "cursor": cursor,
                "rep_id": rep_id,
                "from": created_from.isoformat() if created_from else None,
                "to": created_to.isoformat() if created_to else None,
                "outcome": outcome,
            },
        )
        data = as_object(response.json(), "the call list")
        return CursorPage(
            items=tuple(CallRecord.from_json(item) for item in object_list(data, "data")),
            next_cursor=optional_str(data, "next_cursor"),
            has_more=optional_bool(data, "has_more") or False,
        )

    def iter_call_pages(
        self,
        *,
        cursor: str | None = None,
        rep_id: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        outcome: str | None = None,
    ) -> Iterator[CursorPage[CallRecord]]:
        """Every page from `cursor` (a stored one resumes a sync) to the newest record."""
        return walk_cursor(
            lambda page_cursor, size: self.list_calls(
                cursor=page_cursor,
                limit=size,
                rep_id=rep_id,
                created_from=created_from,
                created_to=created_to,
                outcome=outcome,
            ),
            cursor=cursor,
        )

    def get_call(self, call_id: str) -> CallRecord:
        response = self.http.request("GET", f"/calls/{quote(call_id, safe='')}")
        return CallRecord.from_json(response.json())
