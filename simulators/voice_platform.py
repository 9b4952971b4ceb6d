"""The voice platform: contacts, campaigns, calls, webhooks, live-call controls, agents,
flows, speaker models and customer import. Errors are `{"detail": ...}`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .core import (
    RateLimit,
    Request,
    Response,
    Route,
    empty_response,
    is_e164,
    iso_utc,
    json_response,
    new_uuid,
    parse_multipart,
    stable_id,
)
from .lifecycle import CallPlan, CallTimeline, plan_call
from .vendor import Vendor, recording_for, serve_recording
from .webhooks import standard_webhook_headers

READ = "voice:calls:read"
CALLS = "voice:calls:write"
CONTACTS = "voice:contacts:write"
CAMPAIGNS = "voice:campaigns:write"
WEBHOOKS = "voice:webhooks:write"
AGENTS = "voice:agents:write"

WEBHOOK_EVENTS = ("call.started", "call.ended")
DEFAULT_AGENT_QUEUES = {"default": 3, "sales": 2, "support": 1}
SPEAKER_SAMPLE_MAX_BYTES = 20 * 1024 * 1024
SPEAKER_DEPLOY_SECONDS = 5.0
DEFAULT_CALLS_PER_MINUTE = 6.0
BULK_CONTACTS_MAX = 500
CUSTOMER_IMPORT_MAX = 100


def per_minute(limit: int) -> RateLimit:
    return RateLimit(limit, 60.0)


class InputError(Exception):
    """A 400 with this message."""


@dataclass
class VoiceCall:
    id: str
    agent_id: str
    campaign_id: str | None
    phone: str
    variables: dict[str, Any]
    metadata: dict[str, Any]
    plan: CallPlan
    timeline: CallTimeline
    speed: float
    # Bumped when the call is ended early, so webhooks scheduled for the old end are skipped.
    version: int = 0


@dataclass
class Campaign:
    id: str
    name: str
    agent_id: str
    config: dict[str, Any]
    created_at: float
    status: str = "draft"
    contact_ids: list[str] = field(default_factory=list)
    dialled_contact_ids: set[str] = field(default_factory=set)
    dialling: bool = False  # whether a dial tick is scheduled


class VoicePlatform(Vendor):
    name = "voice_platform"
    prefix = "/voice_platform"
    default_rate_limit = per_minute(100)
    accepts_script = True
    documented_limits = {
        "POST /v1/calls": per_minute(30),
        "POST /v1/campaigns/{id}/launch": per_minute(5),
        "POST /v1/campaigns/{id}/stop": per_minute(5),
        "POST /v1/contacts": per_minute(60),
        "PATCH /v1/contacts/{id}": per_minute(60),
        "POST /v1/contacts/bulk": per_minute(10),
        "POST /v1/webhooks": per_minute(20),
        "POST /api/voice/customers/import": per_minute(5),
        "POST /api/voice/models/speakers": per_minute(5),
        "POST /api/voice/models/speakers/{name}/deploy": per_minute(5),
        "POST /api/voice/models/speakers/{name}/dataset/sample": per_minute(30),
        "POST /api/voice/calls/{uuid}/transfer": per_minute(10),
        "POST /api/voice/calls/{uuid}/end": per_minute(10),
        "GET /api/voice/calls/agent-availability": per_minute(30),
        "POST /api/voice/calls/{uuid}/metadata": per_minute(30),
        "POST /api/voice/agents": per_minute(20),
        "POST /api/voice/flows": per_minute(20),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Transfer capacity is configuration (set through /_sim/config), so resets keep it.
        self.agent_queues = dict(DEFAULT_AGENT_QUEUES)
        super().__init__(*args, **kwargs)

    def register_routes(self) -> None:
        route = self.route
        route("POST", "/v1/contacts/bulk", self.bulk_contacts, scopes=(CONTACTS,))
        route("POST", "/v1/contacts", self.create_contact, scopes=(CONTACTS,))
        route("PATCH", "/v1/contacts/{id}", self.update_contact, scopes=(CONTACTS,))
        route("POST", "/v1/campaigns", self.create_campaign, scopes=(CAMPAIGNS,))
        route("GET", "/v1/campaigns/{id}", self.get_campaign, scopes=(READ,))
        route("POST", "/v1/campaigns/{id}/launch", self.launch_campaign, scopes=(CAMPAIGNS,))
        route("POST", "/v1/campaigns/{id}/stop", self.stop_campaign, scopes=(CAMPAIGNS,))
        route("POST", "/v1/calls", self.create_call, scopes=(CALLS,))
        route("GET", "/v1/calls", self.list_calls, scopes=(READ,))
        route("GET", "/v1/calls/{id}", self.get_call, scopes=(READ,))
        route("POST", "/v1/webhooks", self.create_webhook, scopes=(WEBHOOKS,))
        route("GET", "/v1/webhooks", self.list_webhooks, scopes=(WEBHOOKS,))
        route("DELETE", "/v1/webhooks/{id}", self.delete_webhook, scopes=(WEBHOOKS,))
        route("GET", "/api/voice/calls/agent-availability", self.availability, scopes=(READ,))
        route("POST", "/api/voice/calls/{uuid}/transfer", self.transfer_call, scopes=(CALLS,))
        route("POST", "/api/voice/calls/{uuid}/end", self.end_call, scopes=(CALLS,))
        route("POST", "/api/voice/calls/{uuid}/metadata", self.merge_metadata, scopes=(CALLS,))
        route("POST", "/api/voice/agents", self.create_agent, scopes=(AGENTS,))
        route("GET", "/api/voice/agents", self.list_agents, scopes=(READ,))
        route("POST", "/api/voice/flows", self.create_flow, scopes=(AGENTS,))
        route("GET", "/api/voice/flows", self.list_flows, scopes=(READ,))
        route("POST", "/api/voice/models/speakers", self.create_speaker, scopes=(AGENTS,))
        route("GET", "/api/voice/models/speakers", self.list_speakers, scopes=(READ,))
        route("GET", "/api/voice/models/speakers/{name}", self.get_speaker, scopes=(READ,))
        route(
            "POST",
            "/api/voice/models/speakers/{name}/dataset/sample",
            self.upload_sample,
            scopes=(AGENTS,),
        )
        route("POST", "/api/voice/models/speakers/{name}/deploy", self.deploy, scopes=(AGENTS,))
        route("POST", "/api/voice/customers/import", self.import_customers, scopes=(CONTACTS,))
        route("GET", "/recordings/{id}.wav", self.recording, authenticated=False)

    def seed(self) -> None:
        demo_id = stable_id("voice-agent", "Demo agent")
        self.agents: dict[str, dict[str, Any]] = {
            demo_id: {
                "id": demo_id,
                "name": "Demo agent",
                "flow_id": None,
                "voice": "alloy",
                "language": "en",
                "config": {},
                "created_at": iso_utc(self.clock.now()),
            }
        }
        self.flows: dict[str, dict[str, Any]] = {}
        self.speakers: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.contact_ids_by_phone: dict[str, str] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.calls: dict[str, VoiceCall] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}

    def state_summary(self) -> dict[str, Any]:
        return {
            "calls": list(self.calls),
            "contacts": len(self.contacts),
            "campaigns": list(self.campaigns),
            "webhooks": [hook["id"] for hook in self.webhooks.values()],
            "agents": list(self.agents),
            "flows": list(self.flows),
            "speakers": list(self.speakers),
            "agent_queues": self.agent_queues,
        }

    def configure(self, settings: dict[str, Any]) -> None:
        """Besides speed, `agent_queues: {"queue": available_agents}` sets transfer capacity."""
        queues = settings.get("agent_queues")
        if queues is not None:
            if not isinstance(queues, dict) or not all(
                isinstance(count, int) and count >= 0 for count in queues.values()
            ):
                raise ValueError("agent_queues must map queue names to counts >= 0")
            with self.lock:
                self.agent_queues.update(queues)
        super().configure({k: v for k, v in settings.items() if k != "agent_queues"})

    def config_summary(self) -> dict[str, Any]:
        return {"speed": self.effective_speed, "agent_queues": self.agent_queues}

    # ----------------------------------------------------------------- shape, auth, limits

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        return json_response(status, {"detail": message})

    def auth_error(self, problem: str) -> Response:
        return self.error(401, "Invalid or expired token")

    def forbidden(self, route: Route) -> Response:
        return self.error(
            403, f"Insufficient permissions. Required scopes: {', '.join(route.scopes)}"
        )

    def rate_group(self, route: Route) -> str:
        group = f"{route.method} {route.template}"
        return group if group in self.documented_limits else "default"

    def rate_buckets(self, route: Route, api_key: str) -> list:
        group = self.rate_group(route)
        return [((self.name, api_key, group), self.rule_for(group), "key")]

    def rate_limited(self, route: Route) -> Response:
        rule = self.rule_for(self.rate_group(route))
        if rule.window_seconds == 60:
            return self.error(429, f"Rate limit exceeded: {rule.limit}/minute")
        return self.error(429, f"Rate limit exceeded: {rule.limit}/{rule.window_seconds:g} seconds")

    # ----------------------------------------------------------------- helpers

    def body_object(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as error:
            raise InputError("Request body must be JSON") from error
        if not isinstance(body, dict):
            raise InputError("Request body must be a JSON object")
        return body

    def handle(self, handler: Any, request: Request) -> Response:
        try:
            return handler(request)
        except InputError as error:
            return self.error(400, str(error))

    def route(self, method: str, template: str, handler: Any, **options: Any) -> None:
        # Every handler may raise InputError for a 400 {"detail"} answer.
        super().route(method, template, lambda request: self.handle(handler, request), **options)

    # ----------------------------------------------------------------- contacts

    def clean_contact_fields(self, item: Any, require_phone: bool = True) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise InputError("contact must be an object")
        if require_phone or "phone" in item:
            if not item.get("phone"):
                raise InputError("phone is required")
            if not is_e164(item["phone"]):
                raise InputError("phone must be in E.164 format")
        for text_field in ("name", "email"):
            if item.get(text_field) is not None and not isinstance(item[text_field], str):
                raise InputError(f"{text_field} must be a string")
        if item.get("metadata") is not None and not isinstance(item["metadata"], dict):
            raise InputError("metadata must be an object")
        return {k: item[k] for k in ("phone", "name", "email", "metadata") if k in item}

    def upsert_contact(self, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Phone is the natural key: an existing phone is updated. Returns (contact, created)."""
        existing_id = self.contact_ids_by_phone.get(fields["phone"])
        if existing_id:
            contact = self.contacts[existing_id]
            contact.update({k: v for k, v in fields.items() if v is not None})
            return contact, False
        contact = {
            "id": new_uuid(self.rng),
            "phone": fields["phone"],
            "name": fields.get("name"),
            "email": fields.get("email"),
            "metadata": fields.get("metadata") or {},
            "created_at": iso_utc(self.clock.now()),
        }
        self.contacts[contact["id"]] = contact
        self.contact_ids_by_phone[contact["phone"]] = contact["id"]
        return contact, True

    def create_contact(self, request: Request) -> Response:
        fields = self.clean_contact_fields(self.body_object(request))
        with self.lock:
            if fields["phone"] in self.contact_ids_by_phone:
                return self.error(409, "Contact with this phone already exists")
            contact, _ = self.upsert_contact(fields)
            return created(201, dict(contact))

    def update_contact(self, request: Request) -> Response:
        fields = self.clean_contact_fields(self.body_object(request), require_phone=False)
        with self.lock:
            contact = self.contacts.get(request.params["id"])
            if contact is None:
                return self.error(404, "Contact not found")
            new_phone = fields.get("phone")
            if new_phone and new_phone != contact["phone"]:
                if new_phone in self.contact_ids_by_phone:
                    return self.error(409, "Contact with this phone already exists")
                del self.contact_ids_by_phone[contact["phone"]]
                self.contact_ids_by_phone[new_phone] = contact["id"]
            contact.update(fields)
            return json_response(200, dict(contact))

    def bulk_contacts(self, request: Request) -> Response:
        body = self.body_object(request)
        items = body.get("contacts")
        if not isinstance(items, list):
            raise InputError("contacts must be a list")
        if len(items) > BULK_CONTACTS_MAX:
            raise InputError(f"At most {BULK_CONTACTS_MAX} contacts per request")
        result: dict[str, Any] = {"created": 0, "updated": 0, "items": [], "errors": []}
        with self.lock:
            campaign = None
            if body.get("campaign_id") is not None:
                campaign = self.campaigns.get(str(body["campaign_id"]))
                if campaign is None:
                    return self.error(404, "Campaign not found")
            for index, item in enumerate(items):
                try:
                    fields = self.clean_contact_fields(item)
                except InputError as error:
                    result["errors"].append({"index": index, "detail": str(error)})
                    continue
                contact, was_created = self.upsert_contact(fields)
                result["created" if was_created else "updated"] += 1
                result["items"].append(
                    {"index": index, "id": contact["id"], "phone": contact["phone"]}
                )
                if campaign and contact["id"] not in campaign.contact_ids:
                    campaign.contact_ids.append(contact["id"])
            if campaign and campaign.status == "running":
                self.keep_dialling(campaign)
        return created(200, result)

    def import_customers(self, request: Request) -> Response:
        items = self.body_object(request).get("customers")
        if not isinstance(items, list):
            raise InputError("customers must be a list")
        if len(items) > CUSTOMER_IMPORT_MAX:
            raise InputError(f"At most {CUSTOMER_IMPORT_MAX} customers per request")
        results = []
        with self.lock:
            for index, item in enumerate(items):
                try:
                    fields = self.clean_contact_fields(item)
                except InputError as error:
                    results.append({"index": index, "status": "error", "detail": str(error)})
                    continue
                contact, was_created = self.upsert_contact(fields)
                status = "created" if was_created else "updated"
                results.append({"index": index, "status": status, "id": contact["id"]})
        return created(200, {"results": results})

    # ----------------------------------------------------------------- campaigns

    def campaign_body(self, campaign: Campaign) -> dict[str, Any]:
        now = self.clock.now()
        calls = [call for call in self.calls.values() if call.campaign_id == campaign.id]
        return {
            "id": campaign.id,
            "name": campaign.name,
            "agent_id": campaign.agent_id,
            "status": campaign.status,
            "config": campaign.config,
            "created_at": iso_utc(campaign.created_at),
            "stats": {
                "contacts": len(campaign.contact_ids),
                "dialled": len(calls),
                "connected": sum(
                    1
                    for call in calls
                    if call.timeline.has_talk_time and now >= call.timeline.answer_at
                ),
                "completed": sum(1 for call in calls if call.timeline.phase(now) == "ended"),
            },
        }

    def create_campaign(self, request: Request) -> Response:
        body = self.body_object(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise InputError("name is required")
        if not body.get("agent_id"):
            raise InputError("agent_id is required")
        if body.get("config") is not None and not isinstance(body["config"], dict):
            raise InputError("config must be an object")
        with self.lock:
            if body["agent_id"] not in self.agents:
                return self.error(404, "Agent not found")
            campaign = Campaign(
                id=new_uuid(self.rng),
                name=body["name"],
                agent_id=body["agent_id"],
                config=body.get("config") or {},
                created_at=self.clock.now(),
            )
            self.campaigns[campaign.id] = campaign
            return created(201, self.campaign_body(campaign))

    def get_campaign(self, request: Request) -> Response:
        with self.lock:
            campaign = self.campaigns.get(request.params["id"])
            if campaign is None:
                return self.error(404, "Campaign not found")
            return json_response(200, self.campaign_body(campaign))

    def launch_campaign(self, request: Request) -> Response:
        with self.lock:
            campaign = self.campaigns.get(request.params["id"])
            if campaign is None:
                return self.error(404, "Campaign not found")
            if campaign.status == "running":
                return self.error(409, "Campaign is already running")
            if campaign.status == "stopped":
                return self.error(409, "Campaign is stopped")
            campaign.status = "running"
            self.keep_dialling(campaign)
            return json_response(200, self.campaign_body(campaign))

    def stop_campaign(self, request: Request) -> Response:
        with self.lock:
            campaign = self.campaigns.get(request.params["id"])
            if campaign is None:
                return self.error(404, "Campaign not found")
            if campaign.status != "running":
                return self.error(409, "Campaign is not running")
            campaign.status = "stopped"
            return json_response(200, self.campaign_body(campaign))

    def dial_interval(self, campaign: Campaign) -> float:
        rate = campaign.config.get("calls_per_minute", DEFAULT_CALLS_PER_MINUTE)
        if not isinstance(rate, int | float) or rate <= 0:
            rate = DEFAULT_CALLS_PER_MINUTE
        return self.scaled(60.0 / rate)

    def keep_dialling(self, campaign: Campaign) -> None:
        """Start the campaign's dial ticks unless they are already running (lock held)."""
        if not campaign.dialling:
            campaign.dialling = True
            self.context.scheduler.at(self.clock.now(), lambda: self.dial_next(campaign))

    def dial_next(self, campaign: Campaign) -> None:
        with self.lock:
            if campaign.status != "running" or self.campaigns.get(campaign.id) is not campaign:
                campaign.dialling = False
                return
            pending = [c for c in campaign.contact_ids if c not in campaign.dialled_contact_ids]
            if not pending:
                campaign.dialling = False
                return
            contact = self.contacts[pending[0]]
            campaign.dialled_contact_ids.add(contact["id"])
            variables = {"customer_name": contact.get("name"), **(contact.get("metadata") or {})}
            self.place_call(
                campaign.agent_id, contact["phone"], variables, {}, campaign_id=campaign.id
            )
        self.context.scheduler.at(
            self.clock.now() + self.dial_interval(campaign), lambda: self.dial_next(campaign)
        )

    # ----------------------------------------------------------------- calls

    def place_call(
        self,
        agent_id: str,
        phone: str,
        variables: dict[str, Any],
        metadata: dict[str, Any],
        campaign_id: str | None = None,
    ) -> VoiceCall:
        """Create a call and schedule its webhooks (lock held)."""
        plan = plan_call(self.rng, variables, self.take_scripted())
        speed = self.effective_speed
        call = VoiceCall(
            id=new_uuid(self.rng),
            agent_id=agent_id,
            campaign_id=campaign_id,
            phone=phone,
            variables=variables,
            metadata=metadata,
            plan=plan,
            timeline=CallTimeline.from_plan(plan, self.clock.now(), speed),
            speed=speed,
        )
        self.calls[call.id] = call
        self.schedule_webhooks(call)
        return call

    def schedule_webhooks(self, call: VoiceCall) -> None:
        version = call.version
        scheduler = self.context.scheduler
        if call.timeline.has_talk_time and call.version == 0:
            scheduler.at(
                call.timeline.answer_at, lambda: self.announce(call, "call.started", version)
            )
        scheduler.at(call.timeline.end_at, lambda: self.announce(call, "call.ended", version))

    def call_body(self, call: VoiceCall) -> dict[str, Any]:
        now = self.clock.now()
        phase = call.timeline.phase(now)
        ended = phase == "ended"
        plan = call.plan
        answered = call.timeline.has_talk_time and now >= call.timeline.answer_at
        return {
            "id": call.id,
            "agent_id": call.agent_id,
            "campaign_id": call.campaign_id,
            "phone": call.phone,
            "status": phase,
            "end_reason": plan.end_reason if ended else None,
            "started_at": iso_utc(call.timeline.answer_at) if answered else None,
            "ended_at": iso_utc(call.timeline.end_at) if ended else None,
            "duration_seconds": plan.duration if ended else None,
            "transcript": [
                {
                    "speaker": "agent" if turn.speaker == "agent" else "customer",
                    "text": turn.text,
                    "start": turn.start,
                    "end": turn.end,
                }
                for turn in plan.transcript
            ]
            if ended
            else [],
            "summary": plan.summary if ended else None,
            "recording_url": f"{self.base_url}/recordings/{call.id}.wav"
            if ended and plan.duration > 0
            else None,
            "variables": call.variables,
            "metadata": call.metadata,
            "created_at": iso_utc(call.timeline.created_at),
        }

    def create_call(self, request: Request) -> Response:
        body = self.body_object(request)
        if not body.get("agent_id"):
            raise InputError("agent_id is required")
        if not body.get("phone"):
            raise InputError("phone is required")
        if not is_e164(body["phone"]):
            raise InputError("phone must be in E.164 format")
        for object_field in ("variables", "metadata"):
            if body.get(object_field) is not None and not isinstance(body[object_field], dict):
                raise InputError(f"{object_field} must be an object")
        with self.lock:
            if body["agent_id"] not in self.agents:
                return self.error(404, "Agent not found")
            campaign_id = body.get("campaign_id")
            if campaign_id is not None and campaign_id not in self.campaigns:
                return self.error(404, "Campaign not found")
            call = self.place_call(
                body["agent_id"],
                body["phone"],
                body.get("variables") or {},
                body.get("metadata") or {},
                campaign_id=campaign_id,
            )
            return created(201, self.call_body(call))

    def get_call(self, request: Request) -> Response:
        with self.lock:
            call = self.calls.get(request.params["id"])
            if call is None:
                return self.error(404, "Call not found")
            return json_response(200, self.call_body(call))

    def list_calls(self, request: Request) -> Response:
        limit = query_int(request, "limit", 20, 1, 100)
        offset = query_int(request, "offset", 0, 0, None)
        campaign_id = request.query.get("campaign_id")
        with self.lock:
            calls = [
                call
                for call in self.calls.values()
                if campaign_id is None or call.campaign_id == campaign_id
            ]
            calls.sort(key=lambda call: (call.timeline.created_at, call.id), reverse=True)
            items = [self.call_body(call) for call in calls[offset : offset + limit]]
            return json_response(200, {"items": items, "total": len(calls)})

    def recording(self, request: Request) -> Response:
        with self.lock:
            call = self.calls.get(request.params["id"])
        if call is None or call.timeline.phase(self.clock.now()) != "ended":
            return self.error(404, "Recording not found")
        return serve_recording(request, recording_for(call.plan))

    def live_call(self, request: Request) -> VoiceCall | Response:
        call = self.calls.get(request.params["uuid"])
        if call is None:
            return self.error(404, "Call not found")
        return call

    def finish_early(self, call: VoiceCall, end_reason: str) -> None:
        """End a ringing or talking call now (lock held) and re-schedule its call.ended."""
        now = self.clock.now()
        talked = max(0.0, now - call.timeline.answer_at) * call.speed
        call.plan = call.plan.truncated(int(talked), end_reason)
        call.timeline = CallTimeline(
            call.timeline.created_at,
            call.timeline.dial_at,
            min(call.timeline.answer_at, now),
            now,
        )
        call.version += 1
        self.schedule_webhooks(call)

    def end_call(self, request: Request) -> Response:
        with self.lock:
            call = self.live_call(request)
            if isinstance(call, Response):
                return call
            if call.timeline.phase(self.clock.now()) not in ("ringing", "in_progress"):
                return self.error(409, "Call is not currently active")
            self.finish_early(call, "agent_ended")
            return json_response(200, {"call_id": call.id, "status": "ended"})

    def transfer_call(self, request: Request) -> Response:
        body = self.body_object(request) if request.body.strip() else {}
        queue = body.get("queue") or "default"
        if not isinstance(queue, str):
            raise InputError("queue must be a string")
        with self.lock:
            call = self.live_call(request)
            if isinstance(call, Response):
                return call
            if call.timeline.phase(self.clock.now()) != "in_progress":
                return self.error(409, "Call is not currently active")
            if self.agent_queues.get(queue, 0) <= 0:
                return self.error(503, "No agents available in target queue")
            self.finish_early(call, "transferred")
            return json_response(200, {"call_id": call.id, "status": "transferred", "queue": queue})

    def merge_metadata(self, request: Request) -> Response:
        metadata = self.body_object(request).get("metadata")
        if not isinstance(metadata, dict):
            raise InputError("metadata must be an object")
        with self.lock:
            call = self.live_call(request)
            if isinstance(call, Response):
                return call
            call.metadata.update(metadata)
            return json_response(200, {"call_id": call.id, "metadata": call.metadata})

    def availability(self, request: Request) -> Response:
        queue = request.query.get("queue", "default")
        with self.lock:
            available = self.agent_queues.get(queue, 0)
        return json_response(
            200, {"queue": queue, "available_agents": available, "available": available > 0}
        )

    # ----------------------------------------------------------------- webhooks

    def create_webhook(self, request: Request) -> Response:
        body = self.body_object(request)
        url, events = body.get("url"), body.get("events")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InputError("url must be an http(s) URL")
        if (
            not isinstance(events, list)
            or not events
            or not all(event in WEBHOOK_EVENTS for event in events)
        ):
            raise InputError(f"events must be a non-empty subset of {list(WEBHOOK_EVENTS)}")
        if body.get("secret") is not None and not isinstance(body["secret"], str):
            raise InputError("secret must be a string")
        with self.lock:
            for hook in self.webhooks.values():
                if hook["url"] == url:
                    return json_response(200, dict(hook))
            hook = {
                "id": new_uuid(self.rng),
                "url": url,
                "events": list(dict.fromkeys(events)),
                "secret": body.get("secret")
                or "whsec_" + uuid.UUID(int=self.rng.getrandbits(128)).hex,
            }
            self.webhooks[hook["id"]] = hook
            return created(201, dict(hook))

    def list_webhooks(self, request: Request) -> Response:
        with self.lock:
            return json_response(200, {"items": [dict(hook) for hook in self.webhooks.values()]})

    def delete_webhook(self, request: Request) -> Response:
        with self.lock:
            if self.webhooks.pop(request.params["id"], None) is None:
                return self.error(404, "Webhook not found")
        return empty_response(204)

    def announce(self, call: VoiceCall, event: str, version: int) -> None:
        with self.lock:
            if call.version != version or self.calls.get(call.id) is not call:
                return
            payload_data = self.call_body(call)
            hooks = [dict(hook) for hook in self.webhooks.values() if event in hook["events"]]
        for hook in hooks:
            event_id = "evt_" + uuid.uuid4().hex
            payload = {
                "id": event_id,
                "type": event,
                "created_at": iso_utc(self.clock.now()),
                "data": payload_data,
            }
            secret = hook["secret"]

            def signed(event_id: str, timestamp: int, body: bytes, secret: str = secret) -> dict:
                return standard_webhook_headers(secret, event_id, timestamp, body)

            self.send_webhook(hook["url"], event, event_id, payload, signed)

    # ----------------------------------------------------------------- agents and flows

    def create_agent(self, request: Request) -> Response:
        body = self.body_object(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise InputError("name is required")
        if body.get("config") is not None and not isinstance(body["config"], dict):
            raise InputError("config must be an object")
        with self.lock:
            flow_id = body.get("flow_id")
            if flow_id is not None and flow_id not in self.flows:
                return self.error(404, "Flow not found")
            agent = {
                "id": new_uuid(self.rng),
                "name": body["name"],
                "flow_id": flow_id,
                "voice": body.get("voice"),
                "language": body.get("language"),
                "config": body.get("config") or {},
                "created_at": iso_utc(self.clock.now()),
            }
            self.agents[agent["id"]] = agent
            return created(201, dict(agent))

    def list_agents(self, request: Request) -> Response:
        with self.lock:
            return json_response(200, {"items": [dict(agent) for agent in self.agents.values()]})

    def create_flow(self, request: Request) -> Response:
        body = self.body_object(request)
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise InputError("name is required")
        if not isinstance(body.get("config"), dict):
            raise InputError("config is required and must be an object")
        with self.lock:
            flow = {"id": new_uuid(self.rng), "name": body["name"], "config": body["config"]}
            self.flows[flow["id"]] = flow
            return created(201, dict(flow))

    def list_flows(self, request: Request) -> Response:
        with self.lock:
            return json_response(200, {"items": [dict(flow) for flow in self.flows.values()]})

    # ----------------------------------------------------------------- speaker models

    def speaker_body(self, speaker: dict[str, Any]) -> dict[str, Any]:
        status = "created"
        if speaker["deploy_ready_at"] is not None:
            ready = self.clock.now() >= speaker["deploy_ready_at"]
            status = "deployed" if ready else "deploying"
        return {
            "name": speaker["name"],
            "language": speaker["language"],
            "status": status,
            "samples": speaker["samples"],
        }

    def create_speaker(self, request: Request) -> Response:
        body = self.body_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise InputError("name is required and may not contain '/'")
        with self.lock:
            if name in self.speakers:
                return self.error(409, "Speaker already exists")
            self.speakers[name] = {
                "name": name,
                "language": body.get("language"),
                "samples": 0,
                "deploy_ready_at": None,
            }
            return created(201, {"name": name, "status": "created", "samples": 0})

    def list_speakers(self, request: Request) -> Response:
        with self.lock:
            return json_response(
                200, {"items": [self.speaker_body(s) for s in self.speakers.values()]}
            )

    def get_speaker(self, request: Request) -> Response:
        with self.lock:
            speaker = self.speakers.get(request.params["name"])
            if speaker is None:
                return self.error(404, "Speaker not found")
            return json_response(200, self.speaker_body(speaker))

    def upload_sample(self, request: Request) -> Response:
        try:
            parts = parse_multipart(request)
        except ValueError as error:
            raise InputError("Body must be multipart/form-data with a file field") from error
        upload = parts.get("file")
        if upload is None:
            raise InputError("file is required")
        if not upload.content_type.startswith("audio/"):
            raise InputError("file must be audio/*")
        if len(upload.content) > SPEAKER_SAMPLE_MAX_BYTES:
            raise InputError("file must be at most 20 MB")
        if not is_audio(upload.content):
            raise InputError("file is not a recognised audio format")
        with self.lock:
            speaker = self.speakers.get(request.params["name"])
            if speaker is None:
                return self.error(404, "Speaker not found")
            speaker["samples"] += 1
            return created(201, {"name": speaker["name"], "samples": speaker["samples"]})

    def deploy(self, request: Request) -> Response:
        with self.lock:
            speaker = self.speakers.get(request.params["name"])
            if speaker is None:
                return self.error(404, "Speaker not found")
            if speaker["samples"] == 0:
                return self.error(409, "Speaker has no samples to train on")
            speaker["deploy_ready_at"] = self.clock.now() + self.scaled(SPEAKER_DEPLOY_SECONDS)
            return json_response(202, {"name": speaker["name"], "status": "deploying"})


# The containers a speaker sample may be, told by the bytes they start with: (offset, magic)
# pairs that must all match. The document only says "audio"; the sandbox refuses bytes that
# are no audio container at all, as a training service would.
AUDIO_SIGNATURES: tuple[tuple[tuple[int, bytes], ...], ...] = (
    ((0, b"RIFF"), (8, b"WAVE")),
    ((0, b"fLaC"),),
    ((0, b"OggS"),),
    ((0, b"ID3"),),
    ((4, b"ftyp"),),
    ((0, b"\x1a\x45\xdf\xa3"),),
)


def is_audio(content: bytes) -> bool:
    if len(content) >= 2 and content[0] == 0xFF and (content[1] & 0xE0) == 0xE0:
        return True  # an MPEG audio frame without an ID3 tag
    return any(
        all(content[offset : offset + len(magic)] == magic for offset, magic in signature)
        for signature in AUDIO_SIGNATURES
    )


def created(status: int, payload: Any) -> Response:
    """A successful response of a request that created resources (drop_after_create applies)."""
    response = json_response(status, payload)
    response.creates = True
    return response


def query_int(request: Request, name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise InputError(f"{name} must be an integer") from error
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InputError(f"{name} must be {bounds}")
    return value
