"""The voice platform: calls, live-call controls, contacts, native campaigns, webhooks,
agents, flows, speaker models and customer import (Bearer token with scopes).

Every POST carries an Idempotency-Key (made here unless the caller passes the one it
stored), which makes it safe to retry; the document is silent on idempotency (see README).
Rate-limit groups are the document's own table rows, e.g. "POST /v1/calls".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from vendors.base import VendorClient, new_idempotency_key
from vendors.http import BEARER, VendorResponse
from vendors.pagination import MAX_PAGE_SIZE, CountedPage, walk_offset
from vendors.parsing import as_object, object_list, optional_int
from vendors.voice_platform.schemas import (
    AgentAvailability,
    BulkContactsResult,
    Call,
    CallControlResult,
    Campaign,
    ContactInput,
    CustomerImportResult,
    Flow,
    Speaker,
    VoiceAgent,
    Webhook,
)

BULK_CONTACTS_MAX = 500
CUSTOMER_IMPORT_MAX = 100
WEBHOOK_EVENTS = ("call.started", "call.ended")


def _segment(value: str) -> str:
    return quote(value, safe="")


class VoicePlatformClient(VendorClient):
    vendor = "voice_platform"
    auth = BEARER

    def _post(
        self,
        path: str,
        endpoint: str,
        body: Any = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> VendorResponse:
        return self.http.request(
            "POST",
            path,
            endpoint=endpoint,
            json_body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
            **options,
        )

    # ---------------------------------------------------------------- calls

    def start_call(
        self,
        *,
        agent_id: str,
        phone: str,
        variables: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        campaign_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call:
        body: dict[str, Any] = {"agent_id": agent_id, "phone": phone}
        optional = {"variables": variables, "metadata": metadata, "campaign_id": campaign_id}
        body.update({name: value for name, value in optional.items() if value is not None})
        response = self._post("/v1/calls", "POST /v1/calls", body, idempotency_key)
        return Call.from_json(response.json())

    def get_call(self, call_id: str) -> Call:
        response = self.http.request("GET", f"/v1/calls/{_segment(call_id)}")
        return Call.from_json(response.json())

    def list_calls(
        self, *, campaign_id: str | None = None, offset: int = 0, limit: int = MAX_PAGE_SIZE
    ) -> CountedPage[Call]:
        """One page, newest first: `{"items", "total"}` with offset/limit (limit ≤ 100)."""
        response = self.http.request(
            "GET",
            "/v1/calls",
            params={"limit": limit, "offset": offset, "campaign_id": campaign_id},
        )
        data = as_object(response.json(), "the call list")
        items = tuple(Call.from_json(item) for item in object_list(data, "items"))
        return CountedPage(items=items, total=optional_int(data, "total") or 0, offset=offset)

    def iter_call_pages(
        self, *, campaign_id: str | None = None, offset: int = 0
    ) -> Iterator[CountedPage[Call]]:
        return walk_offset(
            lambda start, size: self.list_calls(campaign_id=campaign_id, offset=start, limit=size),
            offset=offset,
        )

    def end_call(self, call_id: str, *, idempotency_key: str | None = None) -> CallControlResult:
        response = self._post(
            f"/api/voice/calls/{_segment(call_id)}/end",
            "POST /api/voice/calls/{uuid}/end",
            idempotency_key=idempotency_key,
        )
        return CallControlResult.from_json(response.json())

    def transfer_call(
        self,
        call_id: str,
        *,
        queue: str | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> CallControlResult:
        """Bridge a live call to a human queue; VendorUnavailable (503) when nobody is free."""
        body = {name: value for name, value in (("queue", queue), ("reason", reason)) if value}
        response = self._post(
            f"/api/voice/calls/{_segment(call_id)}/transfer",
            "POST /api/voice/calls/{uuid}/transfer",
            body,
            idempotency_key,
        )
        return CallControlResult.from_json(response.json())

    def agent_availability(self, queue: str = "default") -> AgentAvailability:
        response = self.http.request(
            "GET",
            "/api/voice/calls/agent-availability",
            endpoint="GET /api/voice/calls/agent-availability",
            params={"queue": queue},
        )
        return AgentAvailability.from_json(response.json())

    def write_call_metadata(
        self, call_id: str, metadata: dict[str, Any], *, idempotency_key: str | None = None
    ) -> CallControlResult:
        """Merge structured post-call data into the call's metadata."""
        response = self._post(
            f"/api/voice/calls/{_segment(call_id)}/metadata",
            "POST /api/voice/calls/{uuid}/metadata",
            {"metadata": metadata},
            idempotency_key,
        )
        return CallControlResult.from_json(response.json())

    # ---------------------------------------------------------------- contacts and campaigns

    def upsert_contacts(
        self,
        contacts: Sequence[ContactInput],
        *,
        campaign_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> BulkContactsResult:
        """Push up to 500 contacts (phone is the natural key: a known phone is updated)."""
        if len(contacts) > BULK_CONTACTS_MAX:
            raise ValueError(f"At most {BULK_CONTACTS_MAX} contacts per bulk request.")
        body: dict[str, Any] = {"contacts": list(contacts)}
        if campaign_id is not None:
            body["campaign_id"] = campaign_id
        response = self._post("/v1/contacts/bulk", "POST /v1/contacts/bulk", body, idempotency_key)
        return BulkContactsResult.from_json(response.json())

    def create_campaign(
        self,
        *,
        name: str,
        agent_id: str,
        config: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Campaign:
        body: dict[str, Any] = {"name": name, "agent_id": agent_id}
        if config is not None:
            body["config"] = config
        response = self._post("/v1/campaigns", "POST /v1/campaigns", body, idempotency_key)
        return Campaign.from_json(response.json())

    def get_campaign(self, campaign_id: str) -> Campaign:
        response = self.http.request("GET", f"/v1/campaigns/{_segment(campaign_id)}")
        return Campaign.from_json(response.json())

    def launch_campaign(self, campaign_id: str, *, idempotency_key: str | None = None) -> Campaign:
        response = self._post(
            f"/v1/campaigns/{_segment(campaign_id)}/launch",
            "POST /v1/campaigns/{id}/launch",
            idempotency_key=idempotency_key,
        )
        return Campaign.from_json(response.json())

    def stop_campaign(self, campaign_id: str, *, idempotency_key: str | None = None) -> Campaign:
        response = self._post(
            f"/v1/campaigns/{_segment(campaign_id)}/stop",
            "POST /v1/campaigns/{id}/stop",
            idempotency_key=idempotency_key,
        )
        return Campaign.from_json(response.json())

    def import_customers(
        self, customers: Sequence[ContactInput], *, idempotency_key: str | None = None
    ) -> list[CustomerImportResult]:
        if len(customers) > CUSTOMER_IMPORT_MAX:
            raise ValueError(f"At most {CUSTOMER_IMPORT_MAX} customers per import.")
        response = self._post(
            "/api/voice/customers/import",
            "POST /api/voice/customers/import",
            {"customers": list(customers)},
            idempotency_key,
        )
        data = as_object(response.json(), "the import answer")
        return [CustomerImportResult.from_json(item) for item in object_list(data, "results")]

    # ---------------------------------------------------------------- webhooks

    def register_webhook(
        self,
        *,
        url: str,
        events: Sequence[str] = WEBHOOK_EVENTS,
        secret: str | None = None,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Register (or, for a known URL, get back) the webhook; its `secret` signs events."""
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if secret is not None:
            body["secret"] = secret
        response = self._post("/v1/webhooks", "POST /v1/webhooks", body, idempotency_key)
        return Webhook.from_json(response.json())

    # ---------------------------------------------------------------- agents and flows

    def create_agent(
        self,
        *,
        name: str,
        flow_id: str | None = None,
        voice: str | None = None,
        language: str | None = None,
        config: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> VoiceAgent:
        body: dict[str, Any] = {"name": name}
        optional = {"flow_id": flow_id, "voice": voice, "language": language, "config": config}
        body.update({key: value for key, value in optional.items() if value is not None})
        response = self._post("/api/voice/agents", "POST /api/voice/agents", body, idempotency_key)
        return VoiceAgent.from_json(response.json())

    def list_agents(self) -> list[VoiceAgent]:
        response = self.http.request("GET", "/api/voice/agents")
        data = as_object(response.json(), "the agent list")
        return [VoiceAgent.from_json(item) for item in object_list(data, "items")]

    def create_flow(
        self, *, name: str, config: dict[str, Any], idempotency_key: str | None = None
    ) -> Flow:
        response = self._post(
            "/api/voice/flows",
            "POST /api/voice/flows",
            {"name": name, "config": config},
            idempotency_key,
        )
        return Flow.from_json(response.json())

    def list_flows(self) -> list[Flow]:
        response = self.http.request("GET", "/api/voice/flows")
        data = as_object(response.json(), "the flow list")
        return [Flow.from_json(item) for item in object_list(data, "items")]

    # ---------------------------------------------------------------- speaker models

    def create_speaker(
        self, *, name: str, language: str | None = None, idempotency_key: str | None = None
    ) -> Speaker:
        body: dict[str, Any] = {"name": name}
        if language is not None:
            body["language"] = language
        response = self._post(
            "/api/voice/models/speakers",
            "POST /api/voice/models/speakers",
            body,
            idempotency_key,
        )
        return Speaker.from_json(response.json())

    def upload_speaker_sample(
        self,
        name: str,
        *,
        filename: str,
        content: bytes,
        content_type: str = "audio/wav",
        idempotency_key: str | None = None,
    ) -> Speaker:
        """Add one audio sample (multipart field `file`, audio/*, at most 20 MB)."""
        response = self._post(
            f"/api/voice/models/speakers/{_segment(name)}/dataset/sample",
            "POST /api/voice/models/speakers/{name}/dataset/sample",
            idempotency_key=idempotency_key,
            files={"file": (filename, content, content_type)},
        )
        return Speaker.from_json(response.json())

    def deploy_speaker(self, name: str, *, idempotency_key: str | None = None) -> Speaker:
        """Start training; the answer is "deploying", get_speaker() later says "deployed"."""
        response = self._post(
            f"/api/voice/models/speakers/{_segment(name)}/deploy",
            "POST /api/voice/models/speakers/{name}/deploy",
            idempotency_key=idempotency_key,
        )
        return Speaker.from_json(response.json())

    def get_speaker(self, name: str) -> Speaker:
        response = self.http.request("GET", f"/api/voice/models/speakers/{_segment(name)}")
        return Speaker.from_json(response.json())
