"""Revont: read-only records of sales calls made by human reps, with cursor pagination.

New records keep arriving over time (a few per minute at speed 1); each one also produces
the documented webhook events when a webhook URL is configured through `/_sim/config`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from .audio import AGENT, CUSTOMER, WavRecording
from .core import RateLimit, Request, Response, iso_utc, json_response, new_uuid, parse_time
from .lifecycle import build_transcript
from .vendor import Vendor, serve_recording
from .webhooks import revont_signature_headers

OUTCOMES = ("won", "lost", "follow_up", "no_outcome")
REPS = [
    ("rep_001", "Dana Whitfield"),
    ("rep_002", "Miguel Santos"),
    ("rep_003", "Priya Natarajan"),
    ("rep_004", "Tom Becker"),
]
PROSPECTS = [
    ("Alex Morgan", "alex.morgan@example.com"),
    ("Jordan Lee", "jordan.lee@example.org"),
    ("Sam Patel", "sam.patel@example.net"),
    ("Chris Novak", "chris.novak@example.com"),
    ("Riley Chen", "riley.chen@example.org"),
]
ACTION_ITEMS = [
    "Send pricing proposal",
    "Schedule product demo",
    "Share case study",
    "Follow up next week",
    "Loop in procurement",
]
SEEDED_RECORDS = 45
SEEDED_SPAN_SECONDS = 7 * 24 * 3600
NEW_RECORD_EVERY_SECONDS = (12.0, 28.0)  # a few per minute at speed 1, unless configured
SUMMARY_DELAY_SECONDS = 120.0  # summary.ready "about 2 minutes after the end"
READ_SCOPE = "calls:read"
# The agreed codes by status; any other code a caller asks for falls back to these.
ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "invalid_request",
    409: "invalid_request",
    429: "rate_limited",
}


@dataclass
class RevontRecord:
    id: str
    created_at: float  # when the record became visible: the end of the call
    started_at: float
    ended_at: float
    summary_ready_at: float
    duration_seconds: int
    rep_id: str
    rep_name: str
    prospect_name: str
    prospect_email: str
    prospect_phone: str
    coaching_score: int
    outcome: str
    summary: str
    action_items: list[dict[str, Any]]
    transcript: list[dict[str, Any]]

    @property
    def sort_key(self) -> tuple[float, str]:
        return (self.created_at, self.id)


class Revont(Vendor):
    name = "revont"
    prefix = "/revont/v1"
    default_rate_limit = RateLimit(100, 60.0)
    accepts_webhook_config = True

    def register_routes(self) -> None:
        # The document gives the base URL as .../v1/calls, the public pages .../v1 plus /calls:
        # a client configured either way ends up on one of these paths. The doubled form is
        # registered first so that "/calls/calls" is not read as the record id "calls".
        for base in ("/calls/calls", "/calls"):
            self.route("GET", base, self.list_records, scopes=(READ_SCOPE,))
            self.route("GET", base + "/{id}", self.get_record, scopes=(READ_SCOPE,))
        # Like the other vendors' recordings: a plain URL on the vendor's own host, no key.
        self.route("GET", "/recordings/{id}.wav", self.recording, authenticated=False)

    def configure(self, settings: dict[str, Any]) -> None:
        """`records_per_hour` paces new records on the sandbox clock (a demo wants a few an
        hour, tests want many); null goes back to the default of a few a minute."""
        pace = settings.get("records_per_hour")
        valid = pace is None or (
            isinstance(pace, int | float) and not isinstance(pace, bool) and pace > 0
        )
        if not valid:
            raise ValueError("records_per_hour must be a positive number or null")
        super().configure({k: v for k, v in settings.items() if k != "records_per_hour"})
        if "records_per_hour" in settings:
            self.records_per_hour = float(pace) if pace is not None else None

    def config_summary(self) -> dict[str, Any]:
        return {**super().config_summary(), "records_per_hour": self.records_per_hour}

    def seed(self) -> None:
        self.records: dict[str, RevontRecord] = {}
        self.records_per_hour: float | None = None  # a reset goes back to the default pace
        now = self.clock.now()
        for index in range(SEEDED_RECORDS):
            ended_at = now - SEEDED_SPAN_SECONDS + index * SEEDED_SPAN_SECONDS / SEEDED_RECORDS
            record = self.make_record(ended_at)
            self.records[record.id] = record

    def start_background_work(self) -> None:
        self.schedule_next_call()

    def state_summary(self) -> dict[str, Any]:
        visible = self.visible_records()
        return {
            "records": len(visible),
            "record_ids": [record.id for record in visible],
            "calls_in_progress": len(self.records) - len(visible),
        }

    # ----------------------------------------------------------------- shape

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        if code not in ERROR_CODES.values():
            code = ERROR_CODES.get(status, "internal_error")
        return json_response(status, {"error": {"code": code, "message": message}})

    def auth_error(self, problem: str) -> Response:
        return self.error(401, "Missing or invalid API key", "unauthorized")

    # ----------------------------------------------------------------- records

    def make_record(self, ended_at: float) -> RevontRecord:
        rng = self.rng
        rep_id, rep_name = rng.choice(REPS)
        prospect_name, prospect_email = rng.choice(PROSPECTS)
        duration = rng.randint(90, 1800)
        first_name = prospect_name.split()[0]
        turns = build_transcript(rng, duration, {"customer_name": first_name}, rep_name)
        outcome = rng.choice(OUTCOMES)
        record_id = new_uuid(rng)
        return RevontRecord(
            id=record_id,
            created_at=ended_at,
            started_at=ended_at - duration,
            ended_at=ended_at,
            summary_ready_at=ended_at,
            duration_seconds=duration,
            rep_id=rep_id,
            rep_name=rep_name,
            prospect_name=prospect_name,
            prospect_email=prospect_email,
            prospect_phone=f"+1415555{rng.randint(1000, 9999)}",
            coaching_score=rng.randint(35, 98),
            outcome=outcome,
            summary=(
                f"{rep_name} spoke with {prospect_name} for {duration // 60} minutes about "
                f"their evaluation. Outcome: {outcome.replace('_', ' ')}."
            ),
            action_items=[
                {"id": f"ai_{record_id[:8]}_{n}", "text": text, "completed": rng.random() < 0.3}
                for n, text in enumerate(rng.sample(ACTION_ITEMS, rng.randint(0, 3)))
            ],
            transcript=[
                {
                    "speaker": rep_name if turn.speaker == "agent" else prospect_name,
                    "text": turn.text,
                    "start": turn.start,
                    "end": turn.end,
                }
                for turn in turns
            ],
        )

    def visible_records(self) -> list[RevontRecord]:
        now = self.clock.now()
        with self.lock:
            records = [record for record in self.records.values() if record.created_at <= now]
        return sorted(records, key=lambda record: record.sort_key)

    def record_body(self, record: RevontRecord) -> dict[str, Any]:
        summary_ready = self.clock.now() >= record.summary_ready_at
        return {
            "id": record.id,
            "created_at": iso_utc(record.created_at),
            "started_at": iso_utc(record.started_at),
            "ended_at": iso_utc(record.ended_at),
            "duration_seconds": record.duration_seconds,
            "rep_id": record.rep_id,
            "rep_name": record.rep_name,
            "prospect_name": record.prospect_name,
            "prospect_email": record.prospect_email,
            "prospect_phone": record.prospect_phone,
            "coaching_score": record.coaching_score if summary_ready else None,
            "outcome": record.outcome,
            "summary": record.summary if summary_ready else None,
            "action_items": record.action_items if summary_ready else [],
            "recording_url": f"{self.base_url}/recordings/{record.id}.wav",
            "transcript": record.transcript,
        }

    def list_records(self, request: Request) -> Response:
        query = request.query
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            return self.error(400, "limit must be an integer", "invalid_request")
        if not 1 <= limit <= 100:
            return self.error(400, "limit must be between 1 and 100", "invalid_request")
        outcome = query.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            return self.error(400, f"outcome must be one of {list(OUTCOMES)}", "invalid_request")
        try:
            after = decode_cursor(query["cursor"]) if query.get("cursor") else None
            since = parse_time(query["from"]) if query.get("from") else None
            until = parse_time(query["to"]) if query.get("to") else None
        except ValueError:
            return self.error(400, "cursor, from or to is not valid", "invalid_request")
        matching = [
            record
            for record in self.visible_records()
            if (after is None or record.sort_key > after)
            and (not query.get("rep_id") or record.rep_id == query["rep_id"])
            and (outcome is None or record.outcome == outcome)
            and (since is None or record.created_at >= since)
            and (until is None or record.created_at <= until)
        ]
        page = matching[:limit]
        # The cursor points after the last record returned, even on the last page, so a
        # client that keeps it gets exactly the newer records next time.
        next_cursor = encode_cursor(page[-1].sort_key) if page else query.get("cursor") or None
        return json_response(
            200,
            {
                "data": [self.record_body(record) for record in page],
                "next_cursor": next_cursor,
                "has_more": len(matching) > limit,
            },
        )

    def get_record(self, request: Request) -> Response:
        with self.lock:
            record = self.records.get(request.params["id"])
        if record is None or record.created_at > self.clock.now():
            return self.error(404, "Call not found", "not_found")
        return json_response(200, self.record_body(record))

    def recording(self, request: Request) -> Response:
        with self.lock:
            record = self.records.get(request.params["id"])
        if record is None or record.created_at > self.clock.now():
            return self.error(404, "Recording not found", "not_found")
        turns = [
            (turn["start"], turn["end"], AGENT if turn["speaker"] == record.rep_name else CUSTOMER)
            for turn in record.transcript
        ]
        return serve_recording(request, WavRecording(record.duration_seconds, turns))

    # ----------------------------------------------------------------- live calls and events

    def schedule_next_call(self) -> None:
        if self.records_per_hour:
            # A configured pace is in wall-clock time whatever the sandbox speed: it is for
            # people watching a demo.
            mean = 3600.0 / self.records_per_hour
            wait = self.rng.uniform(0.5 * mean, 1.5 * mean)
        else:
            wait = self.scaled(self.rng.uniform(*NEW_RECORD_EVERY_SECONDS))
        self.context.scheduler.at(self.clock.now() + wait, self.start_live_call)

    def start_live_call(self) -> None:
        """A rep starts a call now: its record appears (and events fire) as it ends."""
        now = self.clock.now()
        with self.lock:
            draft = self.make_record(now)
            talk = self.scaled(draft.duration_seconds)
            record = RevontRecord(
                **{
                    **vars(draft),
                    "started_at": now,
                    "ended_at": now + talk,
                    "created_at": now + talk,
                    "summary_ready_at": now + talk + self.scaled(SUMMARY_DELAY_SECONDS),
                }
            )
            self.records[record.id] = record
        scheduler = self.context.scheduler
        base = {"call_id": record.id, "rep_id": record.rep_id}
        self.emit("call.started", {**base, "started_at": iso_utc(record.started_at)})
        scheduler.at(
            record.ended_at,
            lambda: self.emit("call.ended", {**base, "ended_at": iso_utc(record.ended_at)}),
        )
        scheduler.at(record.summary_ready_at, lambda: self.emit_summary(record))
        self.schedule_next_call()

    def emit_summary(self, record: RevontRecord) -> None:
        base = {"call_id": record.id, "rep_id": record.rep_id}
        self.emit("summary.ready", {**base, "summary": record.summary})
        for item in record.action_items:
            self.emit("action_item.created", {**base, "action_item": item})
            if item["completed"]:
                self.emit("action_item.completed", {**base, "action_item": item})

    def emit(self, event: str, data: dict[str, Any]) -> None:
        url, secret = self.webhook_url, self.webhook_secret
        if not url:
            return
        payload = {"event": event, "timestamp": iso_utc(self.clock.now()), "data": data}

        def signed(event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
            return revont_signature_headers(secret, event_id, timestamp, body)

        self.send_webhook(url, event, "evt_" + uuid.uuid4().hex, payload, signed)


def encode_cursor(sort_key: tuple[float, str]) -> str:
    raw = json.dumps([sort_key[0], sort_key[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, record_id = json.loads(base64.urlsafe_b64decode(padded))
        return float(created_at), str(record_id)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("bad cursor") from error
