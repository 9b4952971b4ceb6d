"""Revrag voice agents: agents, single outbound AI calls, call status (X-API-Key auth)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from vendors.base import VendorClient, new_idempotency_key
from vendors.errors import VendorValidationError, parse_error_body
from vendors.http import X_API_KEY
from vendors.revrag.schemas import (
    Agent,
    CallStatus,
    TriggeredCall,
    agents_from_json,
    trigger_succeeded,
)


class RevragClient(VendorClient):
    vendor = "revrag"
    auth = X_API_KEY

    def list_agents(self) -> list[Agent]:
        response = self.http.request("GET", "/v1/campaigns/agents")
        return agents_from_json(response.json())

    def start_call(
        self,
        *,
        agent_id: str,
        to_phone_number: str,
        variable_fields: dict[str, Any] | None = None,
        custom_metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TriggeredCall:
        """Trigger one AI call. Pass the call's stored idempotency key so a retry by a later
        task cannot place the call twice (the document is silent; see README)."""
        body: dict[str, Any] = {"agent_id": agent_id, "to_phone_number": to_phone_number}
        if variable_fields is not None:
            body["variable_fields"] = variable_fields
        if custom_metadata is not None:
            body["custom_metadata"] = custom_metadata
        response = self.http.request(
            "POST",
            "/v1/campaigns/trigger/single",
            json_body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        data = response.json()
        if not trigger_succeeded(data):
            envelope = parse_error_body(response.content)
            raise VendorValidationError(
                envelope.message or "Revrag refused the call.",
                vendor=self.vendor,
                status=response.status,
                request_id=response.request_id,
            )
        return TriggeredCall.from_json(data)

    def get_call_status(self, call_id: str) -> CallStatus:
        response = self.http.request(
            "GET", f"/v1/campaigns/trigger/status/{quote(call_id, safe='')}"
        )
        return CallStatus.from_json(response.json())
