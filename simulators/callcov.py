"""CallCov: call analysis. The sandbox really downloads `audio_url` (loopback hosts only)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import threading
import urllib.error
import urllib.request
import wave
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from .core import (
    RateLimit,
    Request,
    Response,
    Route,
    json_response,
    new_uuid,
    parse_multipart,
)
from .lifecycle import build_transcript
from .vendor import Vendor

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
AUDIO_FORMATS = {"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"}
MAX_AUDIO_BYTES = 500 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 15
PROCESSING_SECONDS = (3.0, 6.0)
# Without a WAV header, duration is estimated as 8 kHz 16-bit mono (16000 bytes per second).
ESTIMATED_BYTES_PER_SECOND = 16000
CENTS_PER_AUDIO_MINUTE = 2
SUBMIT_GROUP = "POST /analysis/"


@dataclass
class AudioFacts:
    size_bytes: int
    duration_seconds: float
    format: str


@dataclass
class Analysis:
    id: str
    created: float
    livemode: bool
    agent_id: str | None
    contact_id: str | None
    audio_url: str | None
    webhook_url: str | None
    user_metadata: dict[str, Any]
    status: str = "processing"
    audio: AudioFacts | None = None
    fetch_error: str | None = None
    fetched: threading.Event = field(default_factory=threading.Event)
    completed_at: float | None = None
    transcript: dict[str, Any] | None = None
    results: dict[str, Any] | None = None


class CallCov(Vendor):
    name = "callcov"
    prefix = "/callcov/api/v1"
    key_prefix = "sk_test_"
    default_rate_limit = RateLimit(100, 60.0)
    documented_limits = {SUBMIT_GROUP: RateLimit(20, 60.0)}

    def register_routes(self) -> None:
        for path in ("/analysis/", "/analysis"):
            self.route(
                "POST", path, self.submit, scopes=("analysis:write",), rate_group=SUBMIT_GROUP
            )
            self.route("GET", path, self.list_analyses, scopes=("analysis:read",))
        self.route("GET", "/analysis/{id}", self.get_analysis, scopes=("analysis:read",))
        self.route("POST", "/analysis/{id}/webhook", self.set_webhook, scopes=("analysis:write",))
        self.route("GET", "/billing/usage", self.usage, scopes=("billing:read",))

    def seed(self) -> None:
        self.analyses: dict[str, Analysis] = {}

    def state_summary(self) -> dict[str, Any]:
        return {
            "analyses": list(self.analyses),
            "by_status": {
                status: sum(1 for a in self.analyses.values() if a.status == status)
                for status in ("processing", "completed", "failed")
            },
        }

    # ----------------------------------------------------------------- shape and auth

    def error(self, status: int, message: str, code: str | None = None) -> Response:
        return json_response(status, {"detail": message})

    def validation_error(self, problems: list[dict[str, Any]]) -> Response:
        return json_response(422, {"detail": problems})

    def auth_error(self, problem: str) -> Response:
        messages = {
            "missing": "Not authenticated",
            "invalid": "Invalid API key",
            "expired": "API key has expired",
            "revoked": "API key has been revoked",
        }
        return self.error(401, messages[problem])

    def forbidden(self, route: Route) -> Response:
        return self.error(403, "Insufficient permissions")

    # ----------------------------------------------------------------- handlers

    def submit(self, request: Request) -> Response:
        if request.content_type == "multipart/form-data":
            return self.submit_upload(request)
        try:
            body = request.json()
        except ValueError:
            return self.validation_error(
                [problem("json_invalid", ["body"], "JSON decode error", None)]
            )
        if not isinstance(body, dict):
            return self.validation_error(
                [problem("dict_type", ["body"], "Input should be a valid dictionary", body)]
            )
        problems = validate_fields(body, required_url="audio_url")
        if problems:
            return self.validation_error(problems)
        analysis = self.new_analysis(request, body, audio_url=body["audio_url"])
        threading.Thread(
            target=self.fetch_audio, args=(analysis,), name="sim-callcov-fetch", daemon=True
        ).start()
        return self.accepted(analysis)

    def submit_upload(self, request: Request) -> Response:
        try:
            parts = parse_multipart(request)
        except ValueError:
            return self.validation_error(
                [problem("missing", ["body", "audio_file"], "Field required", None)]
            )
        upload = parts.get("audio_file")
        if upload is None:
            return self.validation_error(
                [problem("missing", ["body", "audio_file"], "Field required", None)]
            )
        fields: dict[str, Any] = {
            name: part.content.decode(errors="replace")
            for name, part in parts.items()
            if name != "audio_file"
        }
        if "metadata" in fields:
            # A form field carries metadata as a JSON string; if it is not JSON it stays a
            # string and validate_fields reports it as not a dictionary.
            with contextlib.suppress(ValueError):
                fields["metadata"] = json.loads(fields["metadata"])
        problems = validate_fields(fields, required_url=None)
        if problems:
            return self.validation_error(problems)
        extension = (upload.filename or "").rsplit(".", 1)[-1].lower()
        if extension not in AUDIO_FORMATS:
            return self.validation_error(
                [
                    problem(
                        "value_error",
                        ["body", "audio_file"],
                        f"Unsupported audio format; use one of {sorted(AUDIO_FORMATS)}",
                        upload.filename,
                    )
                ]
            )
        analysis = self.new_analysis(request, fields, audio_url=None)
        analysis.audio = describe_audio(upload.content[:4096], len(upload.content), extension)
        analysis.fetched.set()
        return self.accepted(analysis)

    def new_analysis(
        self, request: Request, fields: dict[str, Any], audio_url: str | None
    ) -> Analysis:
        with self.lock:
            analysis = Analysis(
                id=new_uuid(self.rng),
                created=self.clock.now(),
                livemode=(request.api_key or "").startswith("sk_live_"),
                agent_id=fields.get("agent_id"),
                contact_id=fields.get("contact_id"),
                audio_url=audio_url,
                webhook_url=fields.get("webhook_url"),
                user_metadata=fields.get("metadata") or {},
            )
            self.analyses[analysis.id] = analysis
            processing = self.scaled(self.rng.uniform(*PROCESSING_SECONDS))
        self.context.scheduler.at(analysis.created + processing, lambda: self.finish(analysis))
        return analysis

    def accepted(self, analysis: Analysis) -> Response:
        response = json_response(201, self.body(analysis))
        response.creates = True
        return response

    def get_analysis(self, request: Request) -> Response:
        with self.lock:
            analysis = self.analyses.get(request.params["id"])
            if analysis is None:
                return self.error(404, "Analysis not found")
            return json_response(200, self.body(analysis))

    def list_analyses(self, request: Request) -> Response:
        problems = []
        values = {}
        for name, default, maximum in (("skip", 0, None), ("limit", 20, 100)):
            raw = request.query.get(name)
            try:
                values[name] = default if raw is None else int(raw)
            except ValueError:
                problems.append(
                    problem("int_parsing", ["query", name], "Input should be a valid integer", raw)
                )
                continue
            if values[name] < (1 if name == "limit" else 0):
                minimum = 1 if name == "limit" else 0
                problems.append(
                    problem(
                        "greater_than_equal",
                        ["query", name],
                        f"Input should be greater than or equal to {minimum}",
                        raw,
                    )
                )
            elif maximum is not None and values[name] > maximum:
                problems.append(
                    problem(
                        "less_than_equal",
                        ["query", name],
                        f"Input should be less than or equal to {maximum}",
                        raw,
                    )
                )
        if problems:
            return self.validation_error(problems)
        skip, limit = values["skip"], values["limit"]
        with self.lock:
            newest_first = sorted(
                self.analyses.values(), key=lambda a: (a.created, a.id), reverse=True
            )
            items = [self.body(analysis) for analysis in newest_first[skip : skip + limit]]
            total = len(newest_first)
        return json_response(200, {"items": items, "total": total, "skip": skip, "limit": limit})

    def set_webhook(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.validation_error(
                [problem("dict_type", ["body"], "Input should be a valid dictionary", body)]
            )
        problems = validate_fields(body, required_url="webhook_url")
        if problems:
            return self.validation_error(problems)
        with self.lock:
            analysis = self.analyses.get(request.params["id"])
            if analysis is None:
                return self.error(404, "Analysis not found")
            analysis.webhook_url = body["webhook_url"]
            return json_response(200, self.body(analysis))

    def usage(self, request: Request) -> Response:
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(
            day=monthrange(start.year, start.month)[1], hour=23, minute=59, second=59
        )
        with self.lock:
            done = [
                a
                for a in self.analyses.values()
                if a.status == "completed"
                and a.completed_at
                and a.completed_at >= start.timestamp()
            ]
        minutes = sum(a.audio.duration_seconds for a in done if a.audio) / 60
        return json_response(
            200,
            {
                "period_start": int(start.timestamp()),
                "period_end": int(end.timestamp()),
                "analyses": len(done),
                "audio_minutes": round(minutes, 2),
                "amount_due_cents": math.ceil(minutes * CENTS_PER_AUDIO_MINUTE),
                "currency": "usd",
            },
        )

    # ----------------------------------------------------------------- processing

    def fetch_audio(self, analysis: Analysis) -> None:
        url = analysis.audio_url or ""
        parsed = urlparse(url)
        try:
            if parsed.scheme not in ("http", "https") or parsed.hostname not in LOOPBACK_HOSTS:
                raise ValueError("the sandbox only fetches audio from 127.0.0.1 or localhost")
            # Scheme and host are checked above: only http(s) on a loopback host is fetched.
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
                head = b""
                size = 0
                while chunk := response.read(256 * 1024):
                    if len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                    size += len(chunk)
                    if size > MAX_AUDIO_BYTES:
                        raise ValueError("audio is larger than 500 MB")
            extension = parsed.path.rsplit(".", 1)[-1].lower()
            analysis.audio = describe_audio(head, size, extension)
        except urllib.error.HTTPError as error:
            analysis.fetch_error = f"Could not fetch audio_url: HTTP {error.code}"
        except (OSError, ValueError) as error:
            analysis.fetch_error = f"Could not fetch audio_url: {error}"
        finally:
            analysis.fetched.set()

    def finish(self, analysis: Analysis) -> None:
        if not analysis.fetched.is_set():
            # Processing is never done before the download is.
            self.context.scheduler.at(self.clock.now() + 0.2, lambda: self.finish(analysis))
            return
        with self.lock:
            if self.analyses.get(analysis.id) is not analysis:
                return
            analysis.completed_at = self.clock.now()
            if analysis.fetch_error or analysis.audio is None:
                analysis.status = "failed"
            else:
                analysis.status = "completed"
                self.fill_results(analysis)
            payload = self.body(analysis)
            url = analysis.webhook_url
        if url:
            self.send_webhook(
                url, f"analysis.{analysis.status}", "evt_" + analysis.id, payload, no_signature
            )

    def fill_results(self, analysis: Analysis) -> None:
        rng = self.rng
        duration = int(analysis.audio.duration_seconds) if analysis.audio else 0
        turns = build_transcript(rng, max(duration, 1), {}, "Agent")
        segments = [
            {
                "speaker": "agent" if turn.speaker == "agent" else "customer",
                "text": turn.text,
                "start": turn.start,
                "end": turn.end,
            }
            for turn in turns
        ]
        analysis.transcript = {
            "text": " ".join(segment["text"] for segment in segments),
            "segments": segments,
        }

        def check(passed_probability: float, detail: str) -> dict[str, Any]:
            passed = rng.random() < passed_probability
            return {"passed": passed, "details": detail if passed else f"Missing: {detail}"}

        analysis.results = {
            "compliance": {
                "identity_verification": check(0.85, "agent verified the customer's identity"),
                "disclosures": check(0.8, "recording and purpose disclosures were read"),
                "prohibited_phrases": {"passed": True, "found": []},
                "sensitive_data": check(0.95, "no card or account numbers were spoken"),
            },
            "quality": {
                "greeting": {"present": True, "score": round(rng.uniform(0.6, 1.0), 2)},
                "sentiment": {
                    "customer": rng.choice(["positive", "neutral", "negative"]),
                    "agent": "positive",
                },
                "empathy": {"score": round(rng.uniform(0.4, 1.0), 2)},
                "interruptions": {"count": rng.randint(0, 6)},
                "call_structure": {"score": round(rng.uniform(0.5, 1.0), 2)},
            },
            "coaching": {
                "recommendations": [
                    {"priority": 1, "area": "discovery", "text": "Ask one more open question."},
                    {"priority": 2, "area": "closing", "text": "Confirm the next step explicitly."},
                ],
                "customer_effort_score": rng.randint(0, 5),
            },
            "summary": f"A {duration}-second call; the agent explained the offer and agreed "
            "on a follow-up.",
        }

    def body(self, analysis: Analysis) -> dict[str, Any]:
        audio = analysis.audio
        duration = audio.duration_seconds if audio else None
        processing_ms = (
            int((analysis.completed_at - analysis.created) * 1000)
            if analysis.completed_at
            else None
        )
        return {
            "id": analysis.id,
            "object": "analysis",
            "created": int(analysis.created),
            "status": analysis.status,
            "livemode": analysis.livemode,
            "call": {
                "agent_id": analysis.agent_id,
                "contact_id": analysis.contact_id,
                "duration_ms": int(duration * 1000) if duration is not None else None,
                "duration_seconds": duration,
            },
            "audio": {
                "url": analysis.audio_url,
                "size_bytes": audio.size_bytes if audio else None,
                "format": audio.format if audio else None,
                "duration_seconds": duration,
            },
            "transcript": analysis.transcript,
            "results": analysis.results,
            "metadata": {
                **analysis.user_metadata,
                "webhook_url": analysis.webhook_url,
                "completed_at": int(analysis.completed_at) if analysis.completed_at else None,
                "processing_time_ms": processing_ms,
                "error_message": analysis.fetch_error if analysis.status == "failed" else None,
            },
        }


def no_signature(event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """CallCov documents no webhook signature; callops keeps a secret in the URL instead."""
    return {}


def problem(kind: str, loc: list[str], message: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": message, "input": value}


def validate_fields(body: dict[str, Any], required_url: str | None) -> list[dict[str, Any]]:
    problems = []
    if required_url and required_url not in body:
        problems.append(problem("missing", ["body", required_url], "Field required", body))
    for name in ("audio_url", "webhook_url"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or urlparse(value).scheme not in ("http", "https"):
            problems.append(
                problem("url_parsing", ["body", name], "Input should be a valid URL", value)
            )
    for name in ("agent_id", "contact_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(
                problem("string_type", ["body", name], "Input should be a valid string", body[name])
            )
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        problems.append(
            problem(
                "dict_type",
                ["body", "metadata"],
                "Input should be a valid dictionary",
                body["metadata"],
            )
        )
    return problems


def describe_audio(head: bytes, size: int, extension: str) -> AudioFacts:
    """Size and duration: exact from a WAV header, estimated otherwise."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(head)) as reader:
                duration = reader.getnframes() / reader.getframerate()
            return AudioFacts(size, round(duration, 3), "wav")
        except (wave.Error, EOFError):
            pass
    audio_format = extension if extension in AUDIO_FORMATS else "unknown"
    return AudioFacts(size, round(size / ESTIMATED_BYTES_PER_SECOND, 3), audio_format)
