"""Revor outreach: connected accounts, email/LinkedIn/WhatsApp dispatches and LinkedIn post
likes as asynchronous jobs (202 + poll `/outreach/jobs/{id}`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from vendors.base import VendorClient, new_idempotency_key
from vendors.errors import VendorBadResponse
from vendors.http import BEARER, VendorResponse
from vendors.parsing import JsonObject, as_object, object_list
from vendors.revor.schemas import CHANNELS, ConnectAccount, Content, Job, Recipient


class RevorClient(VendorClient):
    vendor = "revor"
    # Bearer is the documented recommendation; x-api-key works too.
    auth = BEARER

    def list_accounts(
        self, *, channel: str | None = None, can_send: bool | None = None
    ) -> list[ConnectAccount]:
        response = self.http.request(
            "GET", "/connect/accounts", params={"channel": channel, "can_send": can_send}
        )
        return [ConnectAccount.from_json(item) for item in object_list(_ok(response), "items")]

    def dispatch(
        self,
        *,
        account_id: str,
        channel: str,
        recipient: Recipient,
        content: Content,
        metadata: dict[str, Any] | None = None,
        min_channel_task_interval_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Create one outreach task. Each new message needs a new key (Revor's own advice);
        a retry of the same message must reuse it, or Revor sends the message twice."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}")
        body: dict[str, Any] = {
            "account_id": account_id,
            "channel": channel,
            "action": "outreach",
            "recipient": dict(recipient),
            "content": dict(content),
        }
        if metadata is not None:
            body["metadata"] = metadata
        if min_channel_task_interval_seconds is not None:
            body["min_channel_task_interval_seconds"] = min_channel_task_interval_seconds
        response = self.http.request(
            "POST",
            "/outreach/dispatches",
            json_body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Job.from_json(_ok(response).get("item"))

    def like_post(
        self, *, account_id: str, profile_url: str, idempotency_key: str | None = None
    ) -> Job:
        """Like one relevant post of a LinkedIn profile (a job, like a dispatch)."""
        response = self.http.request(
            "POST",
            "/outreach/linkedin/post-likes",
            json_body={"account_id": account_id, "profile_url": profile_url},
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Job.from_json(_ok(response).get("item"))

    def get_job(self, job_id: str) -> Job:
        response = self.http.request("GET", f"/outreach/jobs/{quote(job_id, safe='')}")
        return Job.from_json(_ok(response).get("item"))


def _ok(response: VendorResponse) -> JsonObject:
    """The envelope of a 2xx answer, which must say `ok: true`."""
    data = as_object(response.json(), "the Revor answer")
    if data.get("ok") is False:
        raise VendorBadResponse(
            "Revor answered 2xx with ok: false.", vendor="revor", status=response.status
        )
    return data
