"""Revrag voice agents: agents, single-call triggers, call status, call.ended webhooks."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .core import (
    RateLimit,
    Request,
    Response,
    is_e164,
    iso_utc,
    json_response,
    new_uuid,
    stable_id,
)
from .lifecycle import CallPlan, CallTimeline, plan_call
from .vendor import Vendor, recording_for, serve_recording
from .webhooks import revrag_signature_headers

FROM_NUMBER = "+14155550100"
STATUS_NAMES = {
    "queued": "QUEUED",
    "ringing": "RUNNING",
    "in_progress": "RUNNING",
    "ended": "ENDED",
}

SEEDED_AGENTS = [
    (
        "Collections reminder",
        [
            ("customer_name", "string", "there"),
            ("due_amount", "number", "0"),
            ("due_date", "date", ""),
        ],
    ),
    ("Lead qualification", [("customer_name", "string", "there"), ("product", "string", "loan")]),
    ("Appointment confirmation", [("customer_name", "string", "there"), ("slot", "string", "")]),
]


@dataclass
class RevragCall:
    call_id: str
    agent_id: str
    to_number: str
    variable_fields: dict[str, Any] | None
    custom_metadata: dict[str, Any] | None
    plan: CallPlan
    timeline: CallTimeline


class Revrag(Vendor):
    name = "revrag"
    prefix = "/revrag"
    default_rate_limit = RateLimit(60, 60.0)
    accepts_script = True
    accepts_webhook_config = True

    def register_routes(self) -> None:
        self.route("GET", "/v1/campaigns/agents", self.list_agents)
        self.route("POST", "/v1/campaigns/trigger/single", self.trigger_single)
        self.route("GET", "/v1/campaigns/trigger/status/{call_id}", self.call_status)
        self.route("GET", "/recordings/{call_id}.wav", self.recording, authenticated=False)

    def seed(self) -> None:
        self.agents = {
            stable_id("revrag-agent", name): {
                "id": stable_id("revrag-agent", name),
                "name": name,
                "variables": [
                    {"name": var, "type": kind, "default_value": default}
                    for var, kind, default in variables
                ],
            }
            for name, variables in SEEDED_AGENTS
        }
        self.calls: dict[str, RevragCall] = {}

    def state_summary(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "agents": list(self.agents),
            "calls": list(self.calls),
            "calls_by_status": dict(
                Counter(STATUS_NAMES[call.timeline.phase(now)] for call in self.calls.values())
            ),
        }

    # ----------------------------------------------------------------- shape and auth

    def extract_key(self, request: Request) -> str | None:
        return request.headers.get("x-api-key") or None

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        return json_response(status, {"success": False, "message": message})

    def auth_error(self, problem: str) -> Response:
        messages = {
            "missing": "API key is missing",
            "invalid": "Invalid API key",
            "expired": "API key has expired",
            "revoked": "API key has been revoked",
        }
        return self.error(401, messages[problem])

    # ----------------------------------------------------------------- handlers

    def list_agents(self, request: Request) -> Response:
        with self.lock:
            return json_response(200, list(self.agents.values()))

    def trigger_single(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return self.error(422, "Request body must be JSON")
        if not isinstance(body, dict):
            return self.error(422, "Request body must be a JSON object")
        problem = _validate_trigger(body)
        if problem:
            return self.error(422, problem)
        with self.lock:
            if body["agent_id"] not in self.agents:
                return self.error(404, "Agent not found")
            scripted = self.take_scripted()
            plan = plan_call(self.rng, body.get("variable_fields"), scripted)
            call = RevragCall(
                call_id=new_uuid(self.rng),
                agent_id=body["agent_id"],
                to_number=body["to_phone_number"],
                variable_fields=body.get("variable_fields"),
                custom_metadata=body.get("custom_metadata"),
                plan=plan,
                timeline=CallTimeline.from_plan(plan, self.clock.now(), self.effective_speed),
            )
            self.calls[call.call_id] = call
        self.context.scheduler.at(call.timeline.end_at, lambda: self.announce_end(call))
        response = json_response(
            200,
            {
                "success": True,
                "message": "Call queued",
                "to_phone_number": call.to_number,
                "agent_id": call.agent_id,
                "call_id": call.call_id,
            },
        )
        response.creates = True
        return response

    def call_status(self, request: Request) -> Response:
        with self.lock:
            call = self.calls.get(request.params["call_id"])
        if call is None:
            return self.error(404, "Call not found")
        return json_response(200, self.status_body(call))

    def recording(self, request: Request) -> Response:
        with self.lock:
            call = self.calls.get(request.params["call_id"])
        if call is None or call.timeline.phase(self.clock.now()) != "ended":
            return self.error(404, "Recording not found")
        return serve_recording(request, recording_for(call.plan))

    # ----------------------------------------------------------------- call state

    def status_body(self, call: RevragCall) -> dict[str, Any]:
        phase = call.timeline.phase(self.clock.now())
        ended = phase == "ended"
        plan = call.plan
        return {
            "call_status": STATUS_NAMES[phase],
            "call_id": call.call_id,
            "agent_id": call.agent_id,
            "from_number": FROM_NUMBER,
            "to_number": call.to_number,
            "summary": plan.summary if ended else None,
            "start_time": iso_utc(call.timeline.dial_at) if phase != "queued" else None,
            "end_time": iso_utc(call.timeline.end_at) if ended else None,
            "duration": plan.duration if ended else None,
            "disconnection_reason": plan.reason if ended else None,
            "recording_url": (
                f"{self.base_url}/recordings/{call.call_id}.wav"
                if ended and plan.duration > 0
                else None
            ),
            "transcription": (
                {
                    "messages": [
                        {
                            "role": turn.speaker,
                            "content": turn.text,
                            "start_time": turn.start,
                            "end_time": turn.end,
                        }
                        for turn in plan.transcript
                    ]
                }
                if ended
                else None
            ),
            "custom_variables": plan.extracted if ended else [],
            "variables_fields": call.variable_fields,
            "custom_metadata": call.custom_metadata,
        }

    def announce_end(self, call: RevragCall) -> None:
        url, secret = self.webhook_url, self.webhook_secret
        if not url:
            return
        event_id = "evt_" + uuid.uuid4().hex

        def signed(event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
            return revrag_signature_headers(secret, event_id, timestamp, body)

        self.send_webhook(url, "call.ended", event_id, self.status_body(call), signed)


def _validate_trigger(body: dict[str, Any]) -> str | None:
    agent_id = body.get("agent_id")
    if not agent_id:
        return "agent_id is required"
    try:
        uuid.UUID(str(agent_id))
    except ValueError:
        return "agent_id must be a UUID"
    if not body.get("to_phone_number"):
        return "to_phone_number is required"
    if not is_e164(body["to_phone_number"]):
        return "to_phone_number must be in E.164 format"
    for field_name in ("variable_fields", "custom_metadata"):
        if body.get(field_name) is not None and not isinstance(body[field_name], dict):
            return f"{field_name} must be an object or null"
    return None
