"""Revor outreach: connected accounts, dispatches and LinkedIn post likes as async jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .core import (
    CURRENT_REQUEST_ID,
    RateLimit,
    Request,
    Response,
    Route,
    WindowState,
    is_e164,
    iso_utc,
    json_response,
    stable_id,
)
from .vendor import Vendor

CHANNELS = ("email", "linkedin", "whatsapp")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LINKEDIN_PROFILE_PATTERN = re.compile(r"^https://(www\.)?linkedin\.com/in/[^/\s]+/?$")
QUEUE_SECONDS = (1.0, 2.0)
RUN_SECONDS = (2.0, 4.0)
RANDOM_FAILURE_RATE = 0.05
INTERVAL_BOUNDS = (60, 86400)
RESOLVED_ACTIONS = {
    "email": "email_sent",
    "linkedin": "linkedin_message_sent",
    "whatsapp": "whatsapp_message_sent",
}
JOB_STATUSES = ("queued", "scheduled", "running", "succeeded", "failed", "cancelled")
ERROR_CODES = {
    400: "invalid_request",
    403: "permission_denied",
    404: "not_found",
    409: "idempotency_conflict",
    429: "api_rate_limit_exceeded",
    503: "task_unavailable",
}

SEEDED_ACCOUNTS = [
    ("email", "Sales inbox", "sales@callops.example", "ok", True),
    ("linkedin", "Dana Whitfield", "linkedin.com/in/dana-whitfield", "ok", True),
    ("whatsapp", "Support WhatsApp", "+14155550123", "ok", True),
    ("linkedin", "Miguel Santos", "linkedin.com/in/miguel-santos", "credentials", False),
]


class InvalidRequest(Exception):
    """A 400 invalid_request with this message."""


@dataclass
class Job:
    id: str
    kind: str  # "outreach" | "post_like"
    account_id: str
    channel: str
    request: dict[str, Any]
    created_at: float
    scheduled_at: float
    started_at: float
    finished_at: float
    outcome: str  # "succeeded" | "failed"
    error: dict[str, str] | None


class Revor(Vendor):
    name = "revor"
    prefix = "/revor/api/v1"
    key_prefix = "sk-revor-"
    default_rate_limit = RateLimit(60, 60.0)
    account_rate_limit = RateLimit(120, 60.0)
    accepts_script = True

    def register_routes(self) -> None:
        self.route("GET", "/connect/accounts", self.list_accounts, scopes=("connect:read",))
        self.route("POST", "/outreach/dispatches", self.dispatch, scopes=("outreach:write",))
        self.route(
            "POST", "/outreach/linkedin/post-likes", self.like_post, scopes=("outreach:write",)
        )
        self.route("GET", "/outreach/jobs/{id}", self.get_job, scopes=("outreach:read",))

    def seed(self) -> None:
        self.accounts = {}
        for channel, name, identifier, status, can_send in SEEDED_ACCOUNTS:
            account_id = stable_id("revor-account", identifier)
            self.accounts[account_id] = {
                "account_id": account_id,
                "channel": channel,
                "name": name,
                "account_identifier": identifier,
                "status": status,
                "lifecycle_status": "active" if status == "ok" else "needs_reconnect",
                "can_send": can_send,
                "can_receive": status == "ok",
            }
        self.jobs: dict[str, Job] = {}
        self.next_free_slot: dict[tuple[str, str], float] = {}

    def state_summary(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "accounts": list(self.accounts),
            "jobs": list(self.jobs),
            "jobs_by_status": {
                status: sum(1 for job in self.jobs.values() if job_status(job, now) == status)
                for status in JOB_STATUSES
            },
        }

    def script_item_is_valid(self, item: Any) -> bool:
        """Revor scripts decide job results: {"status": "succeeded"} or
        {"status": "failed", "error": {"code": ..., "message": ...}}."""
        return isinstance(item, dict) and item.get("status") in ("succeeded", "failed")

    # ----------------------------------------------------------------- shape, auth, limits

    def extract_key(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return request.headers.get("x-api-key") or None

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        return json_response(
            status,
            {
                "ok": False,
                "error": {
                    "code": code or ERROR_CODES.get(status, "internal_error"),
                    "message": message,
                    "request_id": CURRENT_REQUEST_ID.get(),
                },
            },
        )

    def auth_error(self, problem: str) -> Response:
        code = f"api_key_{problem}"
        return self.error(401, code, code)

    def forbidden(self, route: Route) -> Response:
        return self.error(403, "permission_denied", "permission_denied")

    def rate_limited(self, route: Route) -> Response:
        return self.error(429, "api_rate_limit_exceeded", "api_rate_limit_exceeded")

    def rate_buckets(self, route: Route, api_key: str) -> list:
        return [
            ((self.name, api_key, "default"), self.rule_for("default"), "key"),
            (
                (self.name, "account"),
                self.rate_overrides.get("account", self.account_rate_limit),
                "account",
            ),
        ]

    def rate_headers(self, states: list[tuple[WindowState, str]]) -> dict[str, str]:
        by_role = {role: state for state, role in states}
        key_window, account_window = by_role["key"], by_role["account"]
        return {
            "X-RateLimit-Limit": str(key_window.limit),
            "X-RateLimit-Remaining": str(key_window.remaining),
            "X-RateLimit-Window-Ms": str(int(key_window.window_seconds * 1000)),
            "X-User-RateLimit-Limit": str(account_window.limit),
            "X-User-RateLimit-Remaining": str(account_window.remaining),
        }

    # ----------------------------------------------------------------- handlers

    def ok(self, request: Request, status: int = 200, **payload: Any) -> Response:
        return json_response(status, {"ok": True, "request_id": request.request_id, **payload})

    def list_accounts(self, request: Request) -> Response:
        channel = request.query.get("channel")
        if channel is not None and channel not in CHANNELS:
            return self.error(400, f"channel must be one of {list(CHANNELS)}", "invalid_request")
        can_send = request.query.get("can_send")
        if can_send is not None and can_send not in ("true", "false"):
            return self.error(400, "can_send must be true or false", "invalid_request")
        items = [
            dict(account)
            for account in self.accounts.values()
            if (channel is None or account["channel"] == channel)
            and (can_send is None or account["can_send"] == (can_send == "true"))
        ]
        return self.ok(request, items=items)

    def dispatch(self, request: Request) -> Response:
        try:
            body = self.body_object(request)
            account = self.account_for(body, body.get("channel"))
            validate_dispatch(body)
        except InvalidRequest as error:
            return self.error(400, str(error), "invalid_request")
        interval = body.get("min_channel_task_interval_seconds", INTERVAL_BOUNDS[0])
        return self.create_job(request, "outreach", account, body, interval)

    def like_post(self, request: Request) -> Response:
        try:
            body = self.body_object(request)
            account = self.account_for(body, "linkedin")
            profile_url = body.get("profile_url")
            if not isinstance(profile_url, str) or not LINKEDIN_PROFILE_PATTERN.match(profile_url):
                raise InvalidRequest("profile_url must be a LinkedIn profile URL")
        except InvalidRequest as error:
            return self.error(400, str(error), "invalid_request")
        return self.create_job(request, "post_like", account, body, INTERVAL_BOUNDS[0])

    def get_job(self, request: Request) -> Response:
        with self.lock:
            job = self.jobs.get(request.params["id"])
        if job is None:
            return self.error(404, "job not found", "not_found")
        return self.ok(request, item=self.job_body(job))

    # ----------------------------------------------------------------- jobs

    def body_object(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as error:
            raise InvalidRequest("request body must be JSON") from error
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object")
        return body

    def account_for(self, body: dict[str, Any], channel: Any) -> dict[str, Any]:
        account = self.accounts.get(str(body.get("account_id")))
        if account is None:
            raise InvalidRequest("account_id does not match a connected account")
        if channel not in CHANNELS:
            raise InvalidRequest(f"channel must be one of {list(CHANNELS)}")
        if account["channel"] != channel:
            raise InvalidRequest(f"account {account['account_id']} is not a {channel} account")
        return account

    def create_job(
        self,
        request: Request,
        kind: str,
        account: dict[str, Any],
        body: dict[str, Any],
        interval_seconds: float,
    ) -> Response:
        now = self.clock.now()
        with self.lock:
            rng = self.rng
            slot_key = (account["account_id"], account["channel"])
            # Tasks on one account and channel are spaced by the minimum interval.
            scheduled_at = max(now, self.next_free_slot.get(slot_key, now))
            self.next_free_slot[slot_key] = scheduled_at + self.scaled(interval_seconds)
            started_at = scheduled_at + self.scaled(rng.uniform(*QUEUE_SECONDS))
            finished_at = started_at + self.scaled(rng.uniform(*RUN_SECONDS))
            outcome, error = self.decide_outcome(account)
            job = Job(
                id="job_" + rng.randbytes(12).hex(),
                kind=kind,
                account_id=account["account_id"],
                channel=account["channel"],
                request=body,
                created_at=now,
                scheduled_at=scheduled_at,
                started_at=started_at,
                finished_at=finished_at,
                outcome=outcome,
                error=error,
            )
            self.jobs[job.id] = job
        response = self.ok(request, status=202, item=self.job_body(job))
        response.creates = True
        return response

    def decide_outcome(self, account: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
        scripted = self.take_scripted()
        if scripted:
            if scripted["status"] == "succeeded":
                return "succeeded", None
            error = scripted.get("error") or {}
            return "failed", {
                "code": str(error.get("code", "delivery_failed")),
                "message": str(error.get("message", "The message could not be delivered")),
            }
        if not account["can_send"]:
            return "failed", {
                "code": "account_cannot_send",
                "message": f"account status is {account['status']}; reconnect it",
            }
        if self.rng.random() < RANDOM_FAILURE_RATE:
            return "failed", {
                "code": "delivery_failed",
                "message": "The message could not be delivered",
            }
        return "succeeded", None

    def job_body(self, job: Job) -> dict[str, Any]:
        now = self.clock.now()
        status = job_status(job, now)
        finished = status in ("succeeded", "failed")
        result = None
        if status == "succeeded":
            action = RESOLVED_ACTIONS[job.channel] if job.kind == "outreach" else "post_liked"
            result = {
                "resolved_action": action,
                "message_id": "msg_" + job.id[4:],
                "status": "sent" if job.kind == "outreach" else "liked",
            }
        return {
            "id": job.id,
            "type": job.kind,
            "account_id": job.account_id,
            "channel": job.channel,
            "status": status,
            "created_at": iso_utc(job.created_at),
            "scheduled_at": iso_utc(job.scheduled_at),
            "started_at": iso_utc(job.started_at) if now >= job.started_at else None,
            "finished_at": iso_utc(job.finished_at) if finished else None,
            "attempt_count": 1 if now >= job.started_at else 0,
            "next_attempt_at": None,
            "result": result,
            "error": job.error if status == "failed" else None,
            "metadata": job.request.get("metadata"),
        }


def job_status(job: Job, now: float) -> str:
    if now >= job.finished_at:
        return job.outcome
    if now >= job.started_at:
        return "running"
    if job.scheduled_at > job.created_at and now < job.scheduled_at:
        return "scheduled"
    return "queued"


def validate_dispatch(body: dict[str, Any]) -> None:
    """Raise InvalidRequest for the first problem in an outreach dispatch body."""
    channel = body["channel"]
    if body.get("action") != "outreach":
        raise InvalidRequest('action must be "outreach"')
    recipient = body.get("recipient")
    if not isinstance(recipient, dict):
        raise InvalidRequest("recipient is required")
    if channel == "email" and not EMAIL_PATTERN.match(str(recipient.get("address", ""))):
        raise InvalidRequest("recipient.address must be an email address")
    if channel == "linkedin" and not LINKEDIN_PROFILE_PATTERN.match(
        str(recipient.get("profile_url", ""))
    ):
        raise InvalidRequest("recipient.profile_url must be a LinkedIn profile URL")
    if channel == "whatsapp" and not is_e164(recipient.get("phone")):
        raise InvalidRequest("recipient.phone must be in E.164 format")
    content = body.get("content")
    if not isinstance(content, dict):
        raise InvalidRequest("content is required")
    if channel == "email":
        if not content.get("subject") or not (content.get("text") or content.get("html")):
            raise InvalidRequest("email content needs subject and text or html")
    elif not (content.get("text") or content.get("attachments")):
        raise InvalidRequest("content needs text or attachments")
    attachments = content.get("attachments")
    if attachments is not None and not (
        isinstance(attachments, list)
        and all(
            isinstance(a, dict) and a.get("filename") and a.get("contentBase64")
            for a in attachments
        )
    ):
        raise InvalidRequest("attachments must be [{filename, contentBase64}]")
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        raise InvalidRequest("metadata must be an object")
    interval = body.get("min_channel_task_interval_seconds")
    if interval is not None and not (
        isinstance(interval, int | float) and INTERVAL_BOUNDS[0] <= interval <= INTERVAL_BOUNDS[1]
    ):
        raise InvalidRequest("min_channel_task_interval_seconds must be between 60 and 86400")
