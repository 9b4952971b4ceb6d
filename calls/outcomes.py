"""One outcome language for every vendor: what each outcome means, and the one table that maps
every status and reason the vendor documents name to it.

A call's common outcome is decided in two steps, both here:

1. **The vendor's code**: `OUTCOME_TABLE` maps each documented value (Revrag's disconnection
   reasons, the voice platform's `end_reason`, Revont's `outcome`, callops' own reasons for a
   call that never reached a vendor) to one outcome. The code itself stays verbatim on the call
   (`Call.vendor_outcome`).
2. **What the call itself shows**, only for calls the vendor reports as a conversation
   (completed or dropped; declined too for an opt-out), in this order: a voicemail greeting in
   the callee's first turns makes it *voicemail* (the vendors that have a voicemail code say so
   themselves; this catches the machines they report as conversations, and Revont, which has
   no such code); an agent that extracted `opted_out` / `do_not_call` as true makes it *opted
   out*; an extracted `callback_requested` of true or a callback time (`callback_time`...),
   the callee asking for a callback in the transcript ("call me back tomorrow", "llámame
   mañana": calls/callback_time.py), or a human callback asked for from callops (the
   live-call handoff), makes it *callback requested*.

The README's "One outcome language" table and the help page (/calls/outcomes/) are rendered
from this module; tests/calls/test_outcomes.py fails when a vendor value has no row here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from calls.callback_time import asks_by_variables, callback_request_in
from calls.models import CallState
from calls.models import CommonOutcome as Outcome

# What each outcome means, for people (help page, README, tooltips).
MEANINGS: dict[str, str] = {
    Outcome.COMPLETED: "A conversation took place and ended: by the agent, the callee or a "
    "time limit.",
    Outcome.VOICEMAIL: "A voicemail box or answering machine answered instead of a person.",
    Outcome.NO_ANSWER: "It rang and nobody picked up.",
    Outcome.BUSY: "The line was busy.",
    Outcome.DECLINED: "The callee refused: rejected the call as it rang, or turned the offer down.",
    Outcome.CALLBACK_REQUESTED: "The callee asked to be called again later, or a human callback "
    "was asked for.",
    Outcome.TRANSFERRED: "The call was handed to a human agent.",
    Outcome.DROPPED: "The conversation broke off: the line was cut or the callee went silent.",
    Outcome.FAILED_VENDOR: "The vendor, its telephony or callops could not place or carry the "
    "call.",
    Outcome.FAILED_NUMBER: "The number could not be called: refused as invalid.",
    Outcome.OPTED_OUT: "The callee asked not to be called again, or the number was put on the "
    "do-not-call list before dialling.",
}

# Outcomes in which the vendor says a conversation took place: the ones the call's own signs
# (transcript, extracted variables, a handoff) may refine.
CONVERSATION = frozenset({Outcome.COMPLETED, Outcome.DROPPED})
# Outcomes an opt-out can refine: a conversation, or a refusal that came with one.
OPT_OUT_REFINABLE = frozenset({*CONVERSATION, Outcome.DECLINED})


@dataclass(frozen=True)
class VendorCode:
    """One value a vendor names, where it says it, and the outcome it maps to.

    `outcome` is None for a value that is not an end (a status while the call is live, a
    webhook event that carries no end).
    """

    vendor: str  # VendorKind value, or "callops" for callops' own reasons
    field: str  # where the vendor says it
    value: str  # verbatim, as the vendor spells it
    means: str  # the vendor's words (or callops' reading)
    outcome: Outcome | None
    voicemail_by: str = ""  # how voicemail is told for this value's calls, when it applies


REVRAG, VOICE, REVONT, CALLOPS = "revrag", "voice_platform", "revont", "callops"
CUES = "transcript cues"

OUTCOME_TABLE: tuple[VendorCode, ...] = (
    # --- Revrag: call_status, then the ten disconnection reasons (its document's tables).
    VendorCode(REVRAG, "call_status", "QUEUED", "Call is queued for execution", None),
    VendorCode(REVRAG, "call_status", "RUNNING", "Call is currently in progress", None),
    VendorCode(REVRAG, "call_status", "ENDED", "Call has ended (see the reason)", None),
    VendorCode(REVRAG, "webhook event", "call.ended", "The status body (see the reason)", None),
    VendorCode(
        REVRAG, "disconnection_reason", "AGENT_HANGUP",
        "The agent ended the call as per prompt or upon detecting conversation completion",
        Outcome.COMPLETED, CUES,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "USER_HANGUP", "The callee hung up the call",
        Outcome.COMPLETED, CUES,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "MAX_DURATION",
        "The set maximum call duration was reached", Outcome.COMPLETED, CUES,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "SILENCE_TIMEOUT",
        "Callee was silent for longer than the configured silence timeout period",
        Outcome.DROPPED, CUES,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "CALL_DROPPED",
        "Call was dropped in between due to network issues", Outcome.DROPPED, CUES,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "VOICEMAIL_REACHED", "Voicemail was reached",
        Outcome.VOICEMAIL, "reason code",
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "CALL_NOT_PICKED",
        "Call was not picked up by the callee", Outcome.NO_ANSWER,
    ),
    # Revrag has one code for a rejected and a busy line; rejecting is the callee's act.
    VendorCode(
        REVRAG, "disconnection_reason", "USER_REJECTED", "Callee rejected the call (busy)",
        Outcome.DECLINED,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "CALL_NOT_CONNECTED",
        "Call was not connected due to telephony issue", Outcome.FAILED_VENDOR,
    ),
    VendorCode(
        REVRAG, "disconnection_reason", "ERROR_OCCURRED", "An error occurred during the call",
        Outcome.FAILED_VENDOR,
    ),
    # --- The voice platform: the call object's status and end_reason, in its call.started and
    # call.ended webhooks too (docs/vendor-readings.md: the document itself lists none).
    VendorCode(VOICE, "status", "queued", "Waiting to be dialled", None),
    VendorCode(VOICE, "status", "ringing", "Ringing", None),
    VendorCode(VOICE, "status", "in_progress", "In conversation", None),
    VendorCode(VOICE, "status", "ended", "Ended (see end_reason)", None),
    VendorCode(VOICE, "webhook event", "call.started", "The call object, live", None),
    VendorCode(VOICE, "webhook event", "call.ended", "The call object (see end_reason)", None),
    VendorCode(
        VOICE, "end_reason", "completed",
        "The conversation ended normally", Outcome.COMPLETED, CUES,
    ),
    VendorCode(
        VOICE, "end_reason", "agent_ended",
        "The agent ended the call", Outcome.COMPLETED, CUES,
    ),
    VendorCode(VOICE, "end_reason", "user_hangup", "The callee hung up", Outcome.COMPLETED, CUES),
    VendorCode(
        VOICE, "end_reason", "voicemail",
        "Voicemail answered", Outcome.VOICEMAIL, "reason code",
    ),
    VendorCode(VOICE, "end_reason", "no_answer", "Nobody answered", Outcome.NO_ANSWER),
    VendorCode(VOICE, "end_reason", "busy", "The line was busy", Outcome.BUSY),
    VendorCode(VOICE, "end_reason", "transferred", "Handed to a human queue", Outcome.TRANSFERRED),
    VendorCode(VOICE, "end_reason", "failed", "The call failed", Outcome.FAILED_VENDOR),
    # --- Revont: human reps' sales calls, always a conversation; its outcome is the sale's.
    VendorCode(REVONT, "outcome", "won", "The deal was won", Outcome.COMPLETED, CUES),
    VendorCode(REVONT, "outcome", "lost", "The deal was lost", Outcome.DECLINED),
    VendorCode(REVONT, "outcome", "follow_up", "A follow-up is due", Outcome.CALLBACK_REQUESTED),
    VendorCode(REVONT, "outcome", "no_outcome", "No outcome recorded", Outcome.COMPLETED, CUES),
    VendorCode(REVONT, "outcome", "", "(absent)", Outcome.COMPLETED, CUES),
    # --- callops' own reasons for a call that failed before or at the vendor.
    VendorCode(
        CALLOPS, "failure", "do-not-call",
        "the number was put on the do-not-call list before dialling", Outcome.OPTED_OUT,
    ),
    VendorCode(
        CALLOPS, "failure", "number refused",
        "the vendor refused the number (its message names the phone or number)",
        Outcome.FAILED_NUMBER,
    ),
    VendorCode(
        CALLOPS, "failure", "other",
        "any other refusal, no answer from the vendor after 3 attempts, a campaign stopped "
        "before dialling",
        Outcome.FAILED_VENDOR,
    ),
    VendorCode(
        CALLOPS, "end", "unknown reason",
        "an end reason this table does not name (kept verbatim)", Outcome.FAILED_VENDOR,
    ),
    VendorCode(
        CALLOPS, "end", "no reason",
        "an end without a reason", Outcome.COMPLETED,
    ),
)  # fmt: skip

# CallCov and Revor place no calls: their statuses are steps after a call (the call page's
# "After the call"), never a call's outcome. Listed so the help page can say so.
NOT_CALL_STATUSES: dict[str, tuple[str, ...]] = {
    "CallCov analysis status": ("processing", "completed", "failed"),
    "Revor outreach job status": (
        "queued",
        "scheduled",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ),
}

VENDOR_NAMES = {
    REVRAG: "Revrag",
    VOICE: "Voice platform",
    REVONT: "Revont",
    CALLOPS: "callops",
}

# Reasons by vendor, upper-cased: the end codes of the table above.
_BY_REASON: dict[str, dict[str, Outcome]] = {}
for _row in OUTCOME_TABLE:
    if _row.outcome is not None and _row.vendor != CALLOPS:
        _BY_REASON.setdefault(_row.vendor, {})[_row.value.upper()] = _row.outcome


def mapped_values(vendor: str) -> set[str]:
    """Every value of a vendor the table names, upper-cased (ends and live statuses)."""
    return {row.value.upper() for row in OUTCOME_TABLE if row.vendor == vendor}


def outcome_of_reason(vendor: str, reason: str | None) -> Outcome:
    """The outcome a vendor's end code maps to (an ended call's first step)."""
    if not reason:
        return _BY_REASON.get(vendor, {}).get("", Outcome.COMPLETED)
    return _BY_REASON.get(vendor, {}).get(reason.strip().upper(), Outcome.FAILED_VENDOR)


# callops' own failures, told by the message it stored (the same words the backfill reads):
# its do-not-call refusal, and a vendor refusal that names the number ("phone must be in
# E.164 format").
DO_NOT_CALL_WORDS = "do-not-call"
NUMBER_WORDS = ("phone", "number", "e164", "e.164")


def outcome_of_failure(message: str) -> Outcome:
    lowered = message.lower()
    if DO_NOT_CALL_WORDS in lowered:
        return Outcome.OPTED_OUT
    if any(word in lowered for word in NUMBER_WORDS):
        return Outcome.FAILED_NUMBER
    return Outcome.FAILED_VENDOR


# --- What the call itself shows ----------------------------------------------------------------

# A greeting only a voicemail box or answering machine says, in the callee's first turns.
VOICEMAIL_CUES = (
    "leave a message",
    "leave your message",
    "after the tone",
    "after the beep",
    "at the tone",
    "voicemail",
    "voice mail",
    "mailbox",
    "is not available to take your call",
    "can't take your call",
    "cannot take your call",
    "record your message",
)
# How many of the callee's first turns are read for a greeting.
GREETING_TURNS = 2
AGENT_SPEAKERS = {"agent", "rep"}
# Variables an agent extracts (Revrag's custom_variables) that say how the call ended.
OPT_OUT_VARIABLES = ("opted_out", "do_not_call")
CALLBACK_VARIABLES = ("callback_requested",)
TRUE_WORDS = ("true", "yes", "1")


def is_true(value: Any) -> bool:
    """An extracted value that means yes: true, 1, or the text true / yes / 1 (any case)."""
    return value is not None and str(value).lower() in TRUE_WORDS


def callee_turns(transcript: Iterable[Any]) -> list[str]:
    said = []
    for turn in transcript:
        if isinstance(turn, Mapping) and turn.get("speaker") not in AGENT_SPEAKERS:
            said.append(str(turn.get("text") or ""))
    return said


def sounds_like_voicemail(transcript: Any) -> bool:
    if not isinstance(transcript, list):
        return False
    greeting = " ".join(callee_turns(transcript)[:GREETING_TURNS]).lower()
    return any(cue in greeting for cue in VOICEMAIL_CUES)


def _says(variables: Any, names: Iterable[str]) -> bool:
    return isinstance(variables, Mapping) and any(is_true(variables.get(n)) for n in names)


def refine(
    outcome: Outcome,
    *,
    transcript: Any,
    extracted_variables: Any,
    metadata: Any,
    opt_out_listed: bool = False,
) -> Outcome:
    """Step 2: what a conversation's own signs say beyond the vendor's code. `opt_out_listed`:
    the opt-out ledger listed the number from this call (calls/opt_out.py: the agent's opt-out
    variable or an opt-out phrase in the callee's words)."""
    if outcome in CONVERSATION and sounds_like_voicemail(transcript):
        return Outcome.VOICEMAIL
    opted_out = opt_out_listed or _says(extracted_variables, OPT_OUT_VARIABLES)
    if outcome in OPT_OUT_REFINABLE and opted_out:
        return Outcome.OPTED_OUT
    if outcome in CONVERSATION and (
        _says(extracted_variables, CALLBACK_VARIABLES)
        or asks_by_variables(extracted_variables)
        or bool(callback_request_in(transcript))
        or (isinstance(metadata, Mapping) and metadata.get("handoff") is not None)
    ):
        return Outcome.CALLBACK_REQUESTED
    return outcome


def common_outcome_of(call: Any, *, vendor: str | None = None) -> str:
    """A call's outcome in the common language; "" while it is live. `vendor` saves a query
    when the caller knows the call's vendor kind."""
    if call.state == CallState.FAILED:
        return outcome_of_failure(call.error_message or "")
    if call.state != CallState.ENDED:
        return ""
    kind = vendor or call.vendor_account.kind
    outcome = outcome_of_reason(kind, call.vendor_outcome)
    return refine(
        outcome,
        transcript=call.transcript,
        extracted_variables=call.extracted_variables,
        metadata=call.metadata,
        opt_out_listed=outcome in OPT_OUT_REFINABLE and opt_out_listed_from(call.pk),
    )


def opt_out_listed_from(call_id: int | None) -> bool:
    """Whether the opt-out ledger listed a number because of this call."""
    from contacts.models import DoNotCallEntry

    return bool(call_id) and DoNotCallEntry.objects.filter(call_id=call_id).exists()


# --- Filters and rules that name outcomes ------------------------------------------------------

# The outcome names callops used before this language (calls.models.CallOutcome), and what a
# stored rule naming one of them means now: post-call rules and campaign retry rules written
# with the old names are translated by calls/migrations/0013 and on input (API, forms).
OLD_NAMES: dict[str, tuple[str, ...]] = {
    "completed": (Outcome.COMPLETED, Outcome.CALLBACK_REQUESTED),
    "hung_up": (Outcome.COMPLETED, Outcome.CALLBACK_REQUESTED),
    "not_picked": (Outcome.NO_ANSWER,),
    "rejected": (Outcome.BUSY, Outcome.DECLINED),
    "voicemail": (Outcome.VOICEMAIL,),
    "dropped": (Outcome.DROPPED,),
    "not_connected": (Outcome.FAILED_VENDOR,),
    "transferred": (Outcome.TRANSFERRED,),
    "error": (Outcome.FAILED_VENDOR, Outcome.FAILED_NUMBER),
}


def translate_outcome_names(names: Iterable[str]) -> list[str]:
    """Outcome names in the common language, in order, without repeats: old names (those that
    are not common names too) become their common ones; unknown names are kept, for the caller
    to refuse."""
    translated: list[str] = []
    for name in names:
        for new in (name,) if name in Outcome.values else OLD_NAMES.get(name, (name,)):
            if new not in translated:
                translated.append(str(new))
    return translated


def outcome_label(value: str) -> str:
    return Outcome(value).label if value in Outcome.values else (value or "No outcome yet")


# --- The table for people (help page and README) -----------------------------------------------

# Signs beyond a code that can give a vendor's calls an outcome (step 2 of the module's rules).
# Revrag's agents extract variables; the voice platform's calls can get a human handoff from
# callops (its live-call actions); Revont's transcripts name rep and customer.
EXTRA_SIGNS: dict[tuple[str, str], str] = {
    (REVRAG, Outcome.VOICEMAIL): "greeting cues in the callee's first turns",
    (VOICE, Outcome.VOICEMAIL): "greeting cues in the callee's first turns",
    (REVONT, Outcome.VOICEMAIL): "greeting cues in the customer's first turns (no code)",
    (REVRAG, Outcome.OPTED_OUT): "extracted `opted_out` or `do_not_call` = true, or the "
    "agent's opt-out variable or an opt-out phrase (the do-not-call ledger)",
    (VOICE, Outcome.OPTED_OUT): "an opt-out phrase in the callee's words (the do-not-call ledger)",
    (REVRAG, Outcome.CALLBACK_REQUESTED): "extracted `callback_requested` = true or a "
    "`callback_time`, or the callee asking for a callback in the transcript",
    (VOICE, Outcome.CALLBACK_REQUESTED): "a human callback asked for in callops, or the callee "
    "asking for a callback in the transcript",
}
TABLE_VENDORS = (REVRAG, VOICE, REVONT, CALLOPS)
TABLE_FIELDS = {
    REVRAG: "disconnection_reason",
    VOICE: "end_reason",
    REVONT: "outcome",
    CALLOPS: "its own failures",
}


@dataclass(frozen=True)
class OutcomeRow:
    outcome: Outcome
    meaning: str
    # Per vendor of TABLE_VENDORS: (codes verbatim, other signs in words, `names` in backticks).
    cells: tuple[tuple[tuple[str, ...], str], ...]

    @property
    def page_cells(self) -> list[tuple[tuple[str, ...], list[tuple[str, bool]]]]:
        """The cells for the help page: the signs as (text, is code) pieces, no backticks."""
        return [(codes, text_and_code(signs)) for codes, signs in self.cells]


def text_and_code(text: str) -> list[tuple[str, bool]]:
    """ "extracted `opted_out` = true" → [("extracted ", False), ("opted_out", True), ...]."""
    return [(piece, n % 2 == 1) for n, piece in enumerate(text.split("`")) if piece]


def outcome_rows() -> list[OutcomeRow]:
    """One row per common outcome with what each vendor says for it."""
    rows = []
    for outcome in Outcome:
        cells = []
        for vendor in TABLE_VENDORS:
            mapped = [r for r in OUTCOME_TABLE if r.vendor == vendor and r.outcome == outcome]
            if vendor == CALLOPS:  # callops' own reasons are described, they have no codes
                codes: tuple[str, ...] = ()
                signs = [r.means for r in mapped]
            else:
                codes = tuple(r.value for r in mapped if r.value)
                signs = ["no outcome given" for r in mapped if not r.value]
            sign = EXTRA_SIGNS.get((vendor, outcome))
            cells.append((codes, "; ".join([*signs, sign] if sign else signs)))
        rows.append(OutcomeRow(outcome, MEANINGS[outcome], tuple(cells)))
    return rows


def outcome_table_markdown() -> str:
    """The README's table (tests/calls/test_outcomes.py keeps the README equal to it)."""
    head = ["outcome", "meaning"] + [
        f"{VENDOR_NAMES[vendor]} (`{TABLE_FIELDS[vendor]}`)"
        if vendor != CALLOPS
        else "callops (its own failures)"
        for vendor in TABLE_VENDORS
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in outcome_rows():
        cells = [f"**{row.outcome.label}**", row.meaning]
        for codes, signs in row.cells:
            parts = [f"`{code}`" for code in codes] + ([signs] if signs else [])
            cells.append(", ".join(parts) or "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
