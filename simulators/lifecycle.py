"""Plans for simulated calls: outcome, timings, transcript, summary and extracted variables.

A plan is drawn once when a call is created; the call's status at any moment is then a pure
function of the plan and the sandbox clock (no thread per call).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# Revrag's disconnection reasons, and the voice platform's end_reason for each.
VOICE_END_REASON = {
    "AGENT_HANGUP": "completed",
    "USER_HANGUP": "user_hangup",
    "MAX_DURATION": "agent_ended",
    "SILENCE_TIMEOUT": "agent_ended",
    "CALL_DROPPED": "failed",
    "CALL_NOT_PICKED": "no_answer",
    "USER_REJECTED": "busy",
    "VOICEMAIL_REACHED": "voicemail",
    "ERROR_OCCURRED": "failed",
    "CALL_NOT_CONNECTED": "failed",
}
# Scripts may use the voice platform's vocabulary too; this picks the closest Revrag reason.
REVRAG_REASON = {
    "completed": "AGENT_HANGUP",
    "user_hangup": "USER_HANGUP",
    "agent_ended": "AGENT_HANGUP",
    "transferred": "AGENT_HANGUP",
    "no_answer": "CALL_NOT_PICKED",
    "busy": "USER_REJECTED",
    "voicemail": "VOICEMAIL_REACHED",
    "failed": "ERROR_OCCURRED",
}
CONNECTED_REASONS = {
    "AGENT_HANGUP",
    "USER_HANGUP",
    "MAX_DURATION",
    "SILENCE_TIMEOUT",
    "CALL_DROPPED",
}

# (reason, weight) for the ~55 % connected / ~45 % not connected spread.
OUTCOME_WEIGHTS = [
    ("AGENT_HANGUP", 33),
    ("USER_HANGUP", 15),
    ("MAX_DURATION", 2),
    ("SILENCE_TIMEOUT", 3),
    ("CALL_DROPPED", 2),
    ("CALL_NOT_PICKED", 22),
    ("USER_REJECTED", 8),
    ("VOICEMAIL_REACHED", 10),
    ("ERROR_OCCURRED", 2),
    ("CALL_NOT_CONNECTED", 3),
]
# (ring seconds range, talk seconds range) per reason; talk seconds is the recorded duration.
TIMINGS = {
    "CALL_NOT_PICKED": ((20, 30), (0, 0)),
    "USER_REJECTED": ((3, 8), (0, 4)),
    "VOICEMAIL_REACHED": ((15, 25), (8, 30)),
    "ERROR_OCCURRED": ((0, 2), (0, 3)),
    "CALL_NOT_CONNECTED": ((0, 1), (0, 0)),
}
CONNECTED_TIMING = ((2, 8), (20, 240))

NAME_VARIABLES = ("customer_name", "name", "first_name", "full_name", "contact_name")
AGENT_NAMES = ["Asha", "Maya", "Rohan", "Leo"]

AGENT_OPENING = "Hi {name}, this is {agent} calling from callops. Is this a good time to talk?"
CUSTOMER_LINES = [
    "Yes, go ahead, I have a couple of minutes.",
    "Okay, what is this about?",
    "I see. Can you tell me a bit more?",
    "That sounds reasonable.",
    "I'm not sure, I need to think about it.",
    "Could you call me back tomorrow afternoon?",
    "Right, that makes sense.",
    "How much would that cost me?",
]
AGENT_LINES = [
    "I'm calling about {topic}.",
    "Thanks, {name}. Let me walk you through the details.",
    "Of course. It takes about two minutes to set up.",
    "There is no charge for the first month.",
    "I can note that down for you, {name}.",
    "Would you like me to send the details by email?",
    "Is there anything else I can help you with?",
]
AGENT_CLOSING = "Thank you for your time, {name}. Have a great day!"
VOICEMAIL_MESSAGE = (
    "Hi {name}, this is {agent} from callops calling about {topic}. "
    "Please call us back when you get a chance. Thank you."
)


@dataclass
class Turn:
    speaker: str  # "agent" | "user"
    text: str
    start: float
    end: float


@dataclass
class CallPlan:
    reason: str
    end_reason: str
    connected: bool
    queue_seconds: float
    ring_seconds: float
    duration: int
    transcript: list[Turn] = field(default_factory=list)
    summary: str = ""
    extracted: list[dict[str, Any]] = field(default_factory=list)
    voice: int = 0

    def truncated(self, duration: int, end_reason: str) -> CallPlan:
        """The same call ended early (voice platform end/transfer)."""
        turns = [turn for turn in self.transcript if turn.start < duration]
        for turn in turns:
            turn.end = min(turn.end, float(duration))
        return CallPlan(
            reason=self.reason,
            end_reason=end_reason,
            connected=self.connected,
            queue_seconds=self.queue_seconds,
            ring_seconds=self.ring_seconds,
            duration=duration,
            transcript=turns,
            summary=self.summary,
            extracted=self.extracted,
            voice=self.voice,
        )


def customer_name(variables: dict[str, Any] | None) -> str:
    for key in NAME_VARIABLES:
        value = (variables or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "there"


def topic_of(variables: dict[str, Any] | None) -> str:
    for key, value in (variables or {}).items():
        if key not in NAME_VARIABLES and isinstance(value, str | int | float) and value != "":
            return f"your {key.replace('_', ' ')} ({value})"
    return "your recent enquiry"


def build_transcript(
    rng: random.Random, duration: int, variables: dict[str, Any] | None, agent: str
) -> list[Turn]:
    """Alternating turns that fill `duration` seconds, opening and closing politely."""
    values = {"name": customer_name(variables), "agent": agent, "topic": topic_of(variables)}
    turns: list[Turn] = []
    clock = round(rng.uniform(0.3, 1.0), 2)
    speaker = "agent"
    agent_lines = list(AGENT_LINES)
    customer_lines = list(CUSTOMER_LINES)
    rng.shuffle(customer_lines)
    agent_lines = [agent_lines[0]] + rng.sample(agent_lines[1:], len(agent_lines) - 1)
    while clock < duration - 1:
        length = round(rng.uniform(2.5, 8.0), 2)
        end = min(round(clock + length, 2), float(duration))
        if not turns:
            template = AGENT_OPENING
        elif end >= duration - 4 and speaker == "agent":
            template = AGENT_CLOSING
        elif speaker == "agent":
            template = agent_lines[len(turns) // 2 % len(agent_lines)]
        else:
            template = customer_lines[len(turns) // 2 % len(customer_lines)]
        turns.append(Turn(speaker, template.format(**values), clock, end))
        clock = round(end + rng.uniform(0.2, 1.2), 2)
        speaker = "user" if speaker == "agent" else "agent"
    return turns


def summarise(
    reason: str, duration: int, variables: dict[str, Any] | None, interested: bool
) -> str:
    name = customer_name(variables)
    who = "the customer" if name == "there" else name
    if reason == "VOICEMAIL_REACHED":
        return f"Reached voicemail; the agent left a message for {who}."
    if reason not in CONNECTED_REASONS:
        return {
            "CALL_NOT_PICKED": f"The call was not picked up by {who}.",
            "USER_REJECTED": f"{who.capitalize()} rejected the call.",
        }.get(reason, "The call could not be connected.")
    stance = "is interested and asked for details by email" if interested else "is not interested"
    topic = topic_of(variables)
    return f"The agent spoke with {who} for {duration} seconds about {topic}; {who} {stance}."


def extracted_variables(rng: random.Random, connected: bool) -> tuple[list[dict], bool]:
    if not connected:
        return [], False
    interested = rng.random() < 0.5
    callback = rng.random() < 0.3
    return [
        {"name": "customer_interested", "value": interested},
        {"name": "callback_requested", "value": callback},
        {"name": "preferred_callback_time", "value": "tomorrow 15:00" if callback else None},
        {"name": "sentiment", "value": rng.choice(["positive", "neutral", "negative"])},
    ], interested


def plan_call(
    rng: random.Random, variables: dict[str, Any] | None, scripted: dict[str, Any] | None = None
) -> CallPlan:
    """Draw an outcome (or take the scripted one) and everything that follows from it."""
    end_reason_override = None
    if scripted:
        reason = str(scripted.get("reason", "AGENT_HANGUP"))
        if reason in REVRAG_REASON:
            end_reason_override = reason
            reason = REVRAG_REASON[reason]
    else:
        reasons, weights = zip(*OUTCOME_WEIGHTS, strict=True)
        reason = rng.choices(reasons, weights)[0]
    connected = reason in CONNECTED_REASONS
    ring_range, talk_range = CONNECTED_TIMING if connected else TIMINGS[reason]
    ring_seconds = round(rng.uniform(*ring_range), 2)
    duration = rng.randint(*talk_range)
    if scripted and scripted.get("duration") is not None:
        duration = max(0, int(scripted["duration"]))
    if scripted and scripted.get("ring_seconds") is not None:
        ring_seconds = max(0.0, float(scripted["ring_seconds"]))
    agent = rng.choice(AGENT_NAMES)
    if connected:
        transcript = build_transcript(rng, duration, variables, agent)
    elif reason == "VOICEMAIL_REACHED" and duration > 0:
        values = {"name": customer_name(variables), "agent": agent, "topic": topic_of(variables)}
        transcript = [Turn("agent", VOICEMAIL_MESSAGE.format(**values), 0.5, float(duration))]
    else:
        transcript = []
    extracted, interested = extracted_variables(rng, connected)
    return CallPlan(
        reason=reason,
        end_reason=end_reason_override or VOICE_END_REASON[reason],
        connected=connected,
        queue_seconds=round(rng.uniform(1.0, 3.0), 2),
        ring_seconds=ring_seconds,
        duration=duration,
        transcript=transcript,
        summary=summarise(reason, duration, variables, interested),
        extracted=extracted,
        voice=rng.randrange(4),
    )


def script_item_is_valid(item: Any) -> bool:
    return isinstance(item, dict) and (
        item.get("reason") in VOICE_END_REASON or item.get("reason") in REVRAG_REASON
    )


@dataclass
class CallTimeline:
    """Sandbox-clock moments of a call: queued until dial_at, ringing until answer_at,
    talking until end_at. With no talk time, answer_at == end_at."""

    created_at: float
    dial_at: float
    answer_at: float
    end_at: float

    @classmethod
    def from_plan(cls, plan: CallPlan, created_at: float, speed: float) -> CallTimeline:
        dial_at = created_at + plan.queue_seconds / speed
        answer_at = dial_at + plan.ring_seconds / speed
        return cls(created_at, dial_at, answer_at, answer_at + plan.duration / speed)

    def phase(self, now: float) -> str:
        if now < self.dial_at:
            return "queued"
        if now < self.answer_at:
            return "ringing"
        if now < self.end_at:
            return "in_progress"
        return "ended"

    @property
    def has_talk_time(self) -> bool:
        return self.end_at > self.answer_at
