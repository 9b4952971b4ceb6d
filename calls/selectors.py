"""Reads of calls and agents for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Avg, Count, F, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from calls.models import (
    Agent,
    Call,
    CallEvent,
    CallState,
    PostCallRule,
    PostCallStep,
    StepStatus,
    WebhookEvent,
)
from calls.search import search_calls
from calls.state import CONNECTED_OUTCOMES
from contacts.models import Contact
from vendors.errors import VendorError
from vendors.models import CALLING_KINDS, VendorAccount, VendorKind
from vendors.services import INTERACTIVE_RETRY_POLICY, vendor_client_for


@dataclass(frozen=True)
class CallFilters:
    """What the call log shows: every field empty means every call."""

    search: str = ""
    state: str = ""
    # The common outcomes (calls.outcomes) to show; `outcome` is the older normalized one.
    common_outcomes: tuple[str, ...] = ()
    outcome: str = ""
    vendor_outcome: str = ""
    vendor_account_id: int | None = None
    agent_id: int | None = None
    campaign_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    has_recording: bool | None = None
    is_stale: bool | None = None
    # Conversation metrics (calls/conversation.py): calls never measured match none of these.
    talk_share_min: int | None = None  # the agent's share of the talk, in percent
    talk_share_max: int | None = None
    long_silences: bool | None = None
    min_response_gap_p90: float | None = None  # seconds

    @property
    def is_empty(self) -> bool:
        return self == CallFilters()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def call_list(*, filters: CallFilters | None = None) -> QuerySet[Call]:
    """Calls matching the filters, newest first, with what the log shows of each."""
    calls = Call.objects.select_related("vendor_account", "agent", "contact", "campaign")
    f = filters or CallFilters()
    if f.state:
        calls = calls.filter(state=f.state)
    if len(f.common_outcomes) == 1:
        calls = calls.filter(common_outcome=f.common_outcomes[0])
    elif f.common_outcomes:
        calls = calls.filter(common_outcome__in=f.common_outcomes)
    if f.outcome:
        calls = calls.filter(outcome=f.outcome)
    if f.vendor_outcome:
        calls = calls.filter(vendor_outcome__iexact=f.vendor_outcome)
    if f.vendor_account_id is not None:
        calls = calls.filter(vendor_account_id=f.vendor_account_id)
    if f.agent_id is not None:
        calls = calls.filter(agent_id=f.agent_id)
    if f.campaign_id is not None:
        calls = calls.filter(campaign_id=f.campaign_id)
    if f.created_from is not None:
        calls = calls.filter(created_at__gte=_day_start(f.created_from))
    if f.created_to is not None:
        # The whole "to" day is included.
        calls = calls.filter(created_at__lt=_day_start(f.created_to + timedelta(days=1)))
    if f.min_duration is not None:
        calls = calls.filter(duration_seconds__gte=f.min_duration)
    if f.max_duration is not None:
        calls = calls.filter(duration_seconds__lte=f.max_duration)
    if f.has_recording is True:
        calls = calls.exclude(recording_url="")
    elif f.has_recording is False:
        calls = calls.filter(recording_url="")
    if f.is_stale is not None:
        calls = calls.filter(is_stale=f.is_stale)
    calls = _conversation_filters(calls, f).order_by("-created_at", "-id")
    if f.search:
        # Last: a rare word's search orders the page itself (calls/search.py).
        calls = search_calls(calls, f.search)
    return calls


def _conversation_filters(calls: QuerySet[Call], f: CallFilters) -> QuerySet[Call]:
    """One join to the calls' conversation metrics, only when a filter asks for them."""
    if f.talk_share_min is not None:
        calls = calls.filter(conversation__agent_talk_share__gte=f.talk_share_min / 100)
    if f.talk_share_max is not None:
        calls = calls.filter(conversation__agent_talk_share__lte=f.talk_share_max / 100)
    if f.long_silences is True:
        calls = calls.filter(conversation__long_silences__gt=0)
    elif f.long_silences is False:
        calls = calls.filter(conversation__long_silences=0)
    if f.min_response_gap_p90 is not None:
        calls = calls.filter(conversation__response_gap_p90_seconds__gt=f.min_response_gap_p90)
    return calls


# --- One call ------------------------------------------------------------------------------------


def call_get(*, pk: int) -> Call:
    """One call with everything its page shows; raises Call.DoesNotExist."""
    return Call.objects.select_related(
        "vendor_account", "agent", "contact", "campaign", "created_by"
    ).get(pk=pk)


def call_status_get(*, pk: int) -> Call:
    """The few fields the live status poll needs (every 2 s while a call runs)."""
    return Call.objects.select_related("agent", "contact", "campaign").get(pk=pk)


def call_events(*, call: Call) -> list[CallEvent]:
    return list(call.events.order_by("at", "id"))


@dataclass(frozen=True)
class TranscriptTurn:
    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    name: str = ""  # the person, where the vendor names them (Revont: the rep and the prospect)
    agent_label: str = "Agent"  # "Rep" on a human rep's call

    @property
    def label(self) -> str:
        labels = {"agent": self.agent_label, "customer": "Customer"}
        return labels.get(self.speaker, self.speaker.title())

    @property
    def clock(self) -> str:
        if self.start is None:
            return ""
        whole = int(self.start)
        return f"{whole // 60:02d}:{whole % 60:02d}"


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 86400 else None


def call_transcript(*, call: Call) -> list[TranscriptTurn]:
    """The stored transcript as typed turns; anything malformed the vendor sent is skipped."""
    turns = []
    # Revont's records are human sales reps' calls: their agent side is a rep.
    agent_label = "Rep" if call.vendor_account.kind == VendorKind.REVONT else "Agent"
    for item in call.transcript if isinstance(call.transcript, list) else []:
        if not isinstance(item, dict):
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text:
            continue
        speaker = item.get("speaker")
        name = item.get("name")
        turns.append(
            TranscriptTurn(
                speaker=speaker if isinstance(speaker, str) and speaker else "speaker",
                text=text,
                start=_seconds(item.get("start")),
                end=_seconds(item.get("end")),
                name=name if isinstance(name, str) else "",
                agent_label=agent_label,
            )
        )
    return turns


# --- Choices for the pages -----------------------------------------------------------------------


def calling_accounts(*, active_only: bool = True) -> QuerySet[VendorAccount]:
    accounts = VendorAccount.objects.filter(kind__in=CALLING_KINDS)
    return accounts.filter(is_active=True) if active_only else accounts


def agent_list(*, vendor_account_id: int | None = None) -> QuerySet[Agent]:
    agents = Agent.objects.select_related("vendor_account").annotate(call_count=Count("calls"))
    if vendor_account_id is not None:
        agents = agents.filter(vendor_account_id=vendor_account_id)
    return agents


AGENT_PERIODS = {"7": 7, "30": 30, "90": 90}


def agent_performance(*, since: datetime, agent_id: int | None = None) -> QuerySet[Agent]:
    """Every agent (or one) with its figures for calls created since `since`, all computed by
    the database in one grouped query: calls, connected calls, ended calls, average duration of
    connected calls, and the review score (average rating of the rated calls, and how many)."""
    window = Q(calls__created_at__gte=since)
    connected = window & Q(calls__outcome__in=list(CONNECTED_OUTCOMES))
    agents = Agent.objects.select_related("vendor_account").annotate(
        period_calls=Count("calls", filter=window),
        period_connected=Count("calls", filter=connected),
        period_ended=Count("calls", filter=window & Q(calls__state=CallState.ENDED)),
        period_failed=Count("calls", filter=window & Q(calls__state=CallState.FAILED)),
        average_duration=Avg("calls__duration_seconds", filter=connected),
        # A call has at most one review: the join adds no rows to count twice.
        period_rated=Count("calls__review__rating", filter=window),
        average_rating=Avg("calls__review__rating", filter=window),
    )
    if agent_id is not None:
        agents = agents.filter(pk=agent_id)
    return agents.order_by("-is_active", "name", "id")


def agent_outcomes(*, agent: Agent, since: datetime) -> list[dict[str, Any]]:
    """The agent's ended calls by common outcome and vendor reason (a grouped count)."""
    return list(
        Call.objects.filter(agent=agent, created_at__gte=since, state=CallState.ENDED)
        .values("common_outcome", "vendor_outcome")
        .annotate(count=Count("id"))
        .order_by("-count", "common_outcome")
    )


def agent_recent_calls(*, agent: Agent, limit: int = 20) -> list[Call]:
    return list(
        Call.objects.filter(agent=agent)
        .select_related("contact", "campaign")
        .order_by("-created_at", "-id")[:limit]
    )


def agents_for_account(*, vendor_account_id: int | None) -> QuerySet[Agent]:
    """The active agents a new call may use on one account (none without an account)."""
    if vendor_account_id is None:
        return Agent.objects.none()
    return Agent.objects.filter(vendor_account_id=vendor_account_id, is_active=True)


def contact_choices(*, search: str = "", selected_id: int | None = None, limit: int = 50) -> list:
    """Contacts offered by the new-call form: the selected one first, then matches by name."""
    contacts = Contact.objects.order_by("name", "id")
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        query = Q(name__icontains=search)
        if digits:
            query |= Q(phone_e164__contains=digits)
        contacts = contacts.filter(query)
    chosen = list(contacts[:limit])
    if selected_id is not None and all(contact.pk != selected_id for contact in chosen):
        chosen = list(Contact.objects.filter(pk=selected_id)) + chosen
    return chosen


def call_filter_options() -> dict[str, list[tuple[int, str]]]:
    """The lists the call log's filter form offers, as (pk, name) choices, in one query (full
    page only)."""
    # calls never imports campaigns (dependencies point one way): the model comes from the FK.
    campaign_model = Call._meta.get_field("campaign").related_model
    recent_campaigns = campaign_model.objects.order_by("-created_at").values("pk")[:200]

    def options(queryset: QuerySet, kind: str, sort: Any) -> QuerySet:
        # No ORDER BY inside a UNION (SQLite refuses it): sorted below instead.
        return (
            queryset.order_by()
            .annotate(
                option_kind=Value(kind), option_pk=F("pk"), option_name=F("name"), option_sort=sort
            )
            .values_list("option_kind", "option_pk", "option_name", "option_sort")
        )

    rows = (
        options(calling_accounts(active_only=False), "accounts", F("name"))
        .union(
            options(Agent.objects.all(), "agents", F("name")),
            options(
                campaign_model.objects.filter(pk__in=recent_campaigns),
                "campaigns",
                Cast("created_at", TextField()),
            ),
            all=True,
        )
        .order_by()
    )
    found: dict[str, list[tuple[Any, ...]]] = {"accounts": [], "agents": [], "campaigns": []}
    for kind, pk, name, sort in rows:
        found[kind].append((sort, pk, name))
    found["accounts"].sort(key=lambda row: (row[0], row[1]))
    found["agents"].sort(key=lambda row: (row[0], row[1]))
    found["campaigns"].sort(key=lambda row: row[0], reverse=True)
    return {kind: [(pk, name) for _sort, pk, name in items] for kind, items in found.items()}


def webhook_inbox(
    *, status: str = "", vendor_account_id: int | None = None
) -> QuerySet[WebhookEvent]:
    """The webhook inbox, newest first, without the raw bodies (they can be large)."""
    events = WebhookEvent.objects.select_related("vendor_account", "call").defer("body")
    if status:
        events = events.filter(status=status)
    if vendor_account_id:
        events = events.filter(vendor_account_id=vendor_account_id)
    return events


def webhook_counts() -> dict[str, int]:
    return dict(WebhookEvent.objects.values_list("status").annotate(count=Count("id")).order_by())


# --- after the call ------------------------------------------------------------------------------


def post_call_rule_list(
    *, vendor_account_id: int | None = None, campaign_id: int | None = None
) -> QuerySet[PostCallRule]:
    """Rules with what they apply to and how their steps went (counted in the database)."""
    rules = PostCallRule.objects.select_related(
        "vendor_account", "campaign", "analysis_account", "follow_up_account"
    ).annotate(
        steps_done=Count("steps", filter=Q(steps__status=StepStatus.DONE)),
        steps_failed=Count("steps", filter=Q(steps__status=StepStatus.FAILED)),
        steps_open=Count(
            "steps",
            filter=Q(
                steps__status__in=[StepStatus.PENDING, StepStatus.IN_FLIGHT, StepStatus.WAITING]
            ),
        ),
    )
    if vendor_account_id is not None:
        rules = rules.filter(vendor_account_id=vendor_account_id)
    if campaign_id is not None:
        rules = rules.filter(campaign_id=campaign_id)
    return rules.order_by("name", "pk")


def post_call_in_progress(*, call: Call, steps: list[PostCallStep]) -> bool:
    """Whether the call's page should keep watching its post-call work: a step still runs, or
    the call just ended and rules that may match it are still to be checked."""
    from calls.post_call import PLAN_SWEEP_WINDOW, rule_scope

    if any(not step.is_final for step in steps):
        return True
    if call.state != CallState.ENDED or call.post_call_planned_at is not None:
        return False
    if call.last_update_at is None or call.last_update_at < timezone.now() - PLAN_SWEEP_WINDOW:
        return False
    return PostCallRule.objects.filter(rule_scope(call), is_active=True).exists()


def call_post_call_steps(*, call: Call) -> list[PostCallStep]:
    return list(
        PostCallStep.objects.filter(call=call)
        .select_related("vendor_account")
        .order_by("rule_name", "rule_id", "position", "pk")
    )


@dataclass(frozen=True)
class Senders:
    """Revor's connected accounts that can send, or why they could not be listed."""

    choices: list[tuple[str, str]] | None
    error: str = ""


SENDERS_CACHE_SECONDS = 60


def revor_senders(*, account: VendorAccount | None) -> Senders:
    """The connected accounts a Revor account can send from, for the rule form (cached for a
    minute: every change of the form's selects asks again)."""
    if account is None:
        return Senders(choices=[])
    key = f"callops:revor-senders:{account.pk}:{account.updated_at.timestamp()}"
    cached = cache.get(key)
    if cached is not None:
        return Senders(choices=[tuple(choice) for choice in cached])
    try:
        with vendor_client_for(account, retry=INTERACTIVE_RETRY_POLICY) as client:
            listed = client.list_accounts(can_send=True)
    except VendorError as exc:
        return Senders(choices=None, error=f"{account} did not list its accounts: {exc.message}")
    choices = [
        (
            item.account_id,
            f"{item.name or item.account_id} · {item.channel}"
            + (f" ({item.account_identifier})" if item.account_identifier else ""),
        )
        for item in listed
        if item.can_send
    ]
    cache.set(key, choices, SENDERS_CACHE_SECONDS)
    return Senders(choices=choices)


@dataclass(frozen=True)
class ResultNode:
    """One line of a vendor's result object, shaped for reading: a heading with children, a
    pass/fail check, a list, or a plain value. Keys become labels ("customer_effort_score" →
    "Customer effort score"); every value stays text, escaped by the template."""

    label: str
    kind: str  # "group" | "check" | "list" | "value"
    text: str = ""
    passed: bool | None = None
    children: tuple[ResultNode, ...] = ()
    items: tuple[str, ...] = ()


def _label(key: Any) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_scalar(item) for item in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    return str(value)


def _inline(value: dict[str, Any]) -> str:
    return " · ".join(f"{_label(key).lower()} {_scalar(item)}" for key, item in value.items())


def readable_result(value: Any, label: str = "", depth: int = 0) -> ResultNode:
    """Any JSON a vendor returns, as ResultNodes (deep nesting is shown as JSON text)."""
    if isinstance(value, dict):
        if isinstance(value.get("passed"), bool):
            rest = {key: item for key, item in value.items() if key != "passed"}
            details = rest.pop("details", None)
            text = _scalar(details) if details is not None else _inline(rest) if rest else ""
            return ResultNode(label, "check", text=text, passed=value["passed"])
        if depth >= 3 or (
            depth > 0 and all(not isinstance(item, dict | list) for item in value.values())
        ):
            return ResultNode(label, "value", text=_inline(value) if depth < 3 else str(value))
        children = [readable_result(item, _label(key), depth + 1) for key, item in value.items()]
        # Plain values (a summary) read first, then the groups; otherwise the vendor's order
        # (which PostgreSQL's jsonb does not keep anyway).
        children.sort(key=lambda node: node.kind == "group")
        return ResultNode(label, "group", children=tuple(children))
    if isinstance(value, list):
        items = tuple(_inline(item) if isinstance(item, dict) else _scalar(item) for item in value)
        return ResultNode(label, "list", items=items)
    return ResultNode(label, "value", text=_scalar(value))


def readable_pairs(value: Any) -> list[ResultNode]:
    """Variables and metadata as labelled lines: keys verbatim (they are the names rules and
    agents use), lists as lists, nested objects indented, null as "—"; never raw JSON."""
    if isinstance(value, dict):
        return [readable_result(item, str(key), 1) for key, item in value.items()]
    if value in (None, "", [], {}):
        return []
    return [readable_result(value, "", 1)]
