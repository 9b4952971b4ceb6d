"""CallCov: post-call analysis of a recording (Bearer sk_test_/sk_live_ keys)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from vendors.base import VendorClient, new_idempotency_key
from vendors.callcov.schemas import Analysis, Usage
from vendors.http import BEARER
from vendors.pagination import MAX_PAGE_SIZE, CountedPage, walk_offset
from vendors.parsing import as_object, object_list, optional_int

SUBMIT_ENDPOINT = "POST /analysis/"


class CallCovClient(VendorClient):
    vendor = "callcov"
    auth = BEARER

    def submit_analysis(
        self,
        *,
        audio_url: str,
        agent_id: str | None = None,
        contact_id: str | None = None,
        webhook_url: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Analysis:
        """Submit a recording by URL; the answer is 201 with status "processing".

        CallCov keeps idempotency keys for 24 h: pass the key stored with the request so a
        retry within that time returns the first analysis instead of a second one.
        """
        body: dict[str, Any] = {"audio_url": audio_url}
        optional = {
            "agent_id": agent_id,
            "contact_id": contact_id,
            "webhook_url": webhook_url,
            "metadata": metadata,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        response = self.http.request(
            "POST",
            "/analysis/",
            endpoint=SUBMIT_ENDPOINT,
            json_body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Analysis.from_json(response.json())

    def get_analysis(self, analysis_id: str) -> Analysis:
        response = self.http.request("GET", f"/analysis/{quote(analysis_id, safe='')}")
        return Analysis.from_json(response.json())

    def list_analyses(self, *, skip: int = 0, limit: int = MAX_PAGE_SIZE) -> CountedPage[Analysis]:
        """One page, newest first: `{"items", "total", "skip", "limit"}` (limit ≤ 100)."""
        response = self.http.request("GET", "/analysis/", params={"skip": skip, "limit": limit})
        data = as_object(response.json(), "the analysis list")
        return CountedPage(
            items=tuple(Analysis.from_json(item) for item in object_list(data, "items")),
            total=optional_int(data, "total") or 0,
            offset=skip,
        )

    def iter_analysis_pages(self, *, skip: int = 0) -> Iterator[CountedPage[Analysis]]:
        return walk_offset(
            lambda start, size: self.list_analyses(skip=start, limit=size), offset=skip
        )

    def get_usage(self) -> Usage:
        response = self.http.request("GET", "/billing/usage")
        return Usage.from_json(response.json())
