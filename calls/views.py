from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, denied_reason, has_capability, requires
from calls import call_log as call_log_page
from calls import outcomes, selectors, services
from calls.conversation_metrics import conversation_facts
from calls.fallback import calling_route
from calls.forms import AgentOptOutForm, CallFilterForm, NewCallForm
from calls.models import (
    Call,
    CallState,
    PostCallAction,
    StepStatus,
    WebhookEvent,
    WebhookStatus,
)
from calls.recordings import RecordingRefused, open_recording
from calls.services import CallRejected, call_create
from calls.voice_views import agents_page_extras
from calls.webhooks import webhook_replay
from contacts.csv_export import EchoBuffer, inert_cell
from vendors.text import load_vendor_json

# How often a live call's page asks for news (seconds); the template uses it too.
POLL_SECONDS = 2
# How often an ended call's page asks how its post-call steps are going.
POST_CALL_POLL_SECONDS = 3


def _get_call(pk: int) -> Call:
    try:
        return selectors.call_get(pk=pk)
    except Call.DoesNotExist:
        raise Http404("No such call.") from None


# --- Call log ------------------------------------------------------------------------------------


@requires(Capability.VIEW_CALLS)
@require_GET
def call_log(request: HttpRequest) -> HttpResponse:
    """The call log: filters in the query string, newest first, "Load more" by keyset."""
    form = CallFilterForm(request.GET)
    filters = form.filters()
    try:
        page = call_log_page.call_page(filters=filters, after=request.GET.get("after", ""))
    except call_log_page.BadCursor:
        return HttpResponseBadRequest("This call log link is broken: start again from the top.")
    context: dict[str, Any] = {
        "form": form,
        "filters": filters,
        "page": page,
        "can_trigger": has_capability(request.user, Capability.TRIGGER_CALLS),
    }
    if request.htmx and page.cursor and request.htmx.target == "call-rows":
        # "Load more": the next rows, appended to the table's body.
        return render(request, "calls/call_log.html#next-rows", context)
    if request.htmx and request.htmx.target == "results":
        return render(request, "calls/call_log.html#results", context)
    context["options"] = selectors.call_filter_options()
    context["silence_seconds"] = settings.CALLOPS_SILENCE_SECONDS
    return render(request, "calls/call_log.html", context)


@requires(Capability.VIEW_CALLS)
@require_GET
def outcome_help(request: HttpRequest) -> HttpResponse:
    """What each common outcome means and which vendor values map to it (calls.outcomes)."""
    vendors = [
        {"name": outcomes.VENDOR_NAMES[vendor], "field": outcomes.TABLE_FIELDS[vendor]}
        for vendor in outcomes.TABLE_VENDORS
    ]
    vendors[-1]["field"] = ""
    codes_by_vendor = [
        {
            "name": outcomes.VENDOR_NAMES[vendor],
            "own": vendor == outcomes.CALLOPS,
            "codes": [row for row in outcomes.OUTCOME_TABLE if row.vendor == vendor],
        }
        for vendor in outcomes.TABLE_VENDORS
    ]
    context = {
        "rows": outcomes.outcome_rows(),
        "vendors": vendors,
        "codes_by_vendor": codes_by_vendor,
        "cues": outcomes.VOICEMAIL_CUES,
        "greeting_turns": outcomes.GREETING_TURNS,
        "not_call_statuses": outcomes.NOT_CALL_STATUSES,
    }
    return render(request, "calls/outcomes.html", context)


EXPORT_COLUMNS = [
    "id",
    "created_at",
    "state",
    "outcome",
    "vendor_reason",
    "to_number",
    "from_number",
    "contact",
    "agent",
    "vendor_account",
    "campaign",
    "started_at",
    "ended_at",
    "duration_seconds",
    "has_recording",
    "stale",
    "summary",
]


def _export_row(call: Call) -> list[Any]:
    return [
        call.pk,
        call.created_at.isoformat(),
        call.state,
        call.common_outcome,
        call.vendor_outcome,
        call.to_number,
        call.from_number,
        call.contact.name if call.contact else "",
        call.agent.name if call.agent else "",
        call.vendor_account.name,
        call.campaign.name if call.campaign else "",
        call.started_at.isoformat() if call.started_at else "",
        call.ended_at.isoformat() if call.ended_at else "",
        "" if call.duration_seconds is None else call.duration_seconds,
        "yes" if call.recording_url else "no",
        "yes" if call.is_stale else "no",
        call.summary,
    ]


@requires(Capability.VIEW_CALLS)
@require_GET
def call_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered call log as CSV, streamed row by row (any size, constant memory)."""
    filters = CallFilterForm(request.GET).filters()
    calls = selectors.call_list(filters=filters)
    writer = csv.writer(EchoBuffer())

    def rows() -> Iterator[str]:
        yield writer.writerow(EXPORT_COLUMNS)
        for call in calls.iterator(chunk_size=2000):
            yield writer.writerow([inert_cell(cell) for cell in _export_row(call)])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    return response


# --- One call ------------------------------------------------------------------------------------


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@requires(Capability.VIEW_CALLS)
@require_GET
def call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if request.htmx and request.htmx.target == "call-status":
        return _call_status(request, pk)
    if request.htmx and request.htmx.target == "after-call":
        return _after_call(request, pk)
    call = _get_call(pk)
    is_admin = has_capability(request.user, Capability.MANAGE_SETTINGS)
    context = {
        "call": call,
        "poll_seconds": POLL_SECONDS,
        "events": selectors.call_events(call=call),
        "transcript": selectors.call_transcript(call=call),
        "conversation": conversation_facts(call=call) if call.state == CallState.ENDED else None,
        "show_payload": is_admin,
        "payload": _pretty_json(call.last_payload) if is_admin and call.last_payload else "",
        "variables": selectors.readable_pairs(call.variables),
        "metadata": selectors.readable_pairs(call.metadata),
        "extracted": selectors.readable_pairs(call.extracted_variables),
        "offer_handoff": request.GET.get("handoff") == "offer",
        **_post_call_context(call, show_raw=is_admin),
    }
    return render(request, "calls/call_detail.html", context)


def _after_call(request: HttpRequest, pk: int) -> HttpResponse:
    """The post-call steps, polled while some still run; 286 stops the polling after."""
    call = _get_call(pk)
    is_admin = has_capability(request.user, Capability.MANAGE_SETTINGS)
    context = {
        "call": call,
        "show_payload": is_admin,
        **_post_call_context(call, show_raw=is_admin),
    }
    response = render(request, "calls/call_detail.html#after-call", context)
    return response if context["post_call_live"] else HttpResponseStopPolling(response.content)


def _post_call_context(call: Call, *, show_raw: bool) -> dict[str, Any]:
    """The call's post-call steps, its analyses shown readably and its follow-ups."""
    steps = selectors.call_post_call_steps(call=call)
    analyses = [
        {
            "step": step,
            "results": selectors.readable_result(step.result.get("results") or {}),
            "raw": _pretty_json(step.result) if show_raw else "",
        }
        for step in steps
        if step.action == PostCallAction.ANALYSE and step.status == StepStatus.DONE
    ]
    follow_ups = [
        step
        for step in steps
        if step.action in (PostCallAction.FOLLOW_UP, PostCallAction.LIKE_POST) and step.request
    ]
    live = selectors.post_call_in_progress(call=call, steps=steps)
    return {
        "post_call_steps": steps,
        "analyses": analyses,
        "follow_ups": follow_ups,
        "post_call_live": live,
        "post_call_poll_seconds": POST_CALL_POLL_SECONDS,
    }


def _call_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live header, polled every 2 s; 286 stops the polling once the call is over."""
    try:
        call = selectors.call_status_get(pk=pk)
    except Call.DoesNotExist:
        raise Http404("No such call.") from None
    context = {"call": call, "poll_seconds": POLL_SECONDS if call.is_live else 0}
    response = render(request, "calls/call_detail.html#status", context)
    if call.is_live:
        return response
    stop = HttpResponseStopPolling(response.content)
    # The page was rendered while the call ran: reload it once for the transcript, summary
    # and recording that came with the end.
    stop["HX-Refresh"] = "true"
    return stop


@requires(Capability.VIEW_CALLS)
@require_GET
def call_recording(request: HttpRequest, pk: int) -> HttpResponse:
    """The call's recording, fetched from its vendor by the server and streamed with Range."""
    call = _get_call(pk)
    try:
        stream = open_recording(
            call.recording_url, call.vendor_account, range_header=request.headers.get("Range")
        )
    except RecordingRefused as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    response = StreamingHttpResponse(stream.body, status=stream.status)
    for name, value in stream.headers.items():
        response[name] = value
    response["Content-Disposition"] = f'inline; filename="call-{call.pk}-recording"'
    return response


# --- New call ------------------------------------------------------------------------------------

# htmx target id -> the region of calls/call_new.html that answers it; anything else (the
# "New call" buttons) gets the whole form in a <dialog>.
_NEW_CALL_REGIONS = {
    "agent-field": "account-change",
    "call-variables": "variables",
    "contact-options": "contact-options",
    "number-hint": "number-hint",
    "new-call-form": "form-body",
}


@requires(Capability.TRIGGER_CALLS)
@require_http_methods(["GET", "POST"])
def call_new(request: HttpRequest) -> HttpResponse:
    """The new-call form: an htmx modal on any page, a full page without JavaScript."""
    if request.method == "POST" and "refresh" in request.POST:
        # The no-JavaScript "Show agents" / "Find" / "Add a row" buttons: show the form again,
        # unchecked.
        form = NewCallForm(initial=request.POST)
    elif request.method == "POST":
        form = NewCallForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            route = calling_route(data["vendor_account"], data["agent"], data["fallback_agent"])
            try:
                call, _created = call_create(
                    vendor_account=route.vendor_account,
                    agent=route.agent,
                    contact=data["contact"],
                    to_number=(data["to_number"] or "").strip(),
                    variables=data["variables"],
                    metadata=route.metadata(data["metadata"]),
                    created_by=request.user,
                    request=request,
                )
            except CallRejected as exc:
                form.add_rejection(exc.message, exc.field)
            else:
                url = reverse("calls:detail", kwargs={"pk": call.pk})
                if route.fell_back_from is not None:
                    messages.warning(
                        request,
                        f"{route.fell_back_from.name} is not answering: the call goes through "
                        f"{route.vendor_account.name} ({route.agent.name}).",
                    )
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                messages.success(request, f"Call to {call.to_number} requested.")
                return redirect(url)
    else:
        # A GET may preset values (?contact=12 from a contact's Call button; htmx reloads of
        # the form when the account, agent or contact changes).
        form = NewCallForm(initial=request.GET) if request.GET else NewCallForm()
    source = request.POST if request.method == "POST" else request.GET
    contact_id = source.get("contact", "")
    context = {
        "form": form,
        "contact_search": source.get("contact_q", "").strip(),
        "contacts": selectors.contact_choices(
            search=source.get("contact_q", "").strip(),
            selected_id=int(contact_id) if contact_id.isdigit() else None,
        ),
        "selected_contact": contact_id,
    }
    if request.htmx:
        # 200 even with errors: htmx swaps only 2xx answers, and the errors must show.
        region = _NEW_CALL_REGIONS.get(request.htmx.target or "", "modal")
        return render(request, f"calls/call_new.html#{region}", context)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "calls/call_new.html", context, status=status)


# --- Agents --------------------------------------------------------------------------------------


@requires(Capability.VIEW_AGENTS)
def agents(request: HttpRequest) -> HttpResponse:
    """Every agent of every account with its figures over a period (7, 30 or 90 days)."""
    days, since = _agent_period(request)
    context = {
        "agents": selectors.agent_performance(since=since),
        "days": days,
        "periods": selectors.AGENT_PERIODS,
    }
    if request.htmx:
        return render(request, "calls/agents.html#agents", context)
    # The voice platform's flows and the create buttons (calls/voice_views.py).
    context.update(agents_page_extras(request))
    return render(request, "calls/agents.html", context)


def _agent_period(request: HttpRequest) -> tuple[int, datetime]:
    days = selectors.AGENT_PERIODS.get(request.GET.get("days", ""), 30)
    return days, timezone.now() - timedelta(days=days)


@requires(Capability.VIEW_AGENTS)
@require_http_methods(["GET", "POST"])
def agent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent's figures; those who configure agents set its opt-out variable here (POST)."""
    days, since = _agent_period(request)
    agent = selectors.agent_performance(since=since, agent_id=pk).first()
    if agent is None:
        raise Http404("No such agent.")
    can_configure = has_capability(request.user, Capability.CONFIGURE_AGENTS)
    form = AgentOptOutForm(request.POST or None, initial={"variable": agent.opt_out_variable})
    if request.method == "POST":
        if not can_configure:
            raise PermissionDenied(denied_reason(Capability.CONFIGURE_AGENTS))
        if form.is_valid():
            services.agent_opt_out_variable_set(agent=agent, name=form.cleaned_data["variable"])
            messages.success(request, "Saved how this agent reports an opt-out.")
            return redirect("calls:agent", pk=agent.pk)
    context = {
        "opt_out_form": form,
        "can_configure": can_configure,
        "agent": agent,
        "days": days,
        "periods": selectors.AGENT_PERIODS,
        "outcomes": selectors.agent_outcomes(agent=agent, since=since),
        "recent_calls": selectors.agent_recent_calls(agent=agent),
        "campaigns": agent.campaigns.order_by("-created_at")[:20],
    }
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "calls/agent_detail.html", context, status=status)


# --- Webhook inbox (admins) -----------------------------------------------------------------------


@requires(Capability.MANAGE_SETTINGS)
@require_GET
def webhook_inbox(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in WebhookStatus.values:
        status = ""
    try:
        account_id = int(request.GET.get("account") or 0) or None
    except ValueError:
        account_id = None
    events = selectors.webhook_inbox(status=status, vendor_account_id=account_id)
    counts = selectors.webhook_counts()
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": [
            (value, label, counts.get(value, 0)) for value, label in WebhookStatus.choices
        ],
    }
    if request.htmx:
        return render(request, "calls/webhook_inbox.html#events", context)
    return render(request, "calls/webhook_inbox.html", context)


@requires(Capability.MANAGE_SETTINGS)
@require_GET
def webhook_event(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(WebhookEvent.objects.select_related("vendor_account", "call"), pk=pk)
    return render(
        request,
        "calls/webhook_event.html",
        {"event": event, "body": _pretty_json(_json_or_text(event.body))},
    )


def _json_or_text(body: str) -> Any:
    try:
        # A vendor's lone surrogate, decoded, could not be written into the page.
        return load_vendor_json(body)
    except ValueError:
        return body


@requires(Capability.MANAGE_SETTINGS)
@require_POST
def webhook_replay_view(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(WebhookEvent, pk=pk)
    if event.status == WebhookStatus.PROCESSED:
        messages.info(request, "This event was processed already; nothing to replay.")
    else:
        webhook_replay(inbox_id=event.pk)
        audit_record(
            action=AuditAction.WEBHOOK_REPLAYED,
            request=request,
            target=f"webhook event {event.pk}",
            detail={"dedupe_key": event.dedupe_key, "previous_status": event.status},
        )
        messages.success(request, "The event is queued to be processed again.")
    return redirect("calls:webhook_event", pk=event.pk)


# --- Live-call actions (voice platform) -----------------------------------------------------------


@requires(Capability.TRIGGER_CALLS)
@require_http_methods(["GET", "POST"])
def call_end(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST hangs up."""
    call = _get_call(pk)
    if request.method == "GET":
        return render(request, "calls/call_end.html", {"call": call})
    try:
        services.call_end(call=call, user=request.user)
    except services.LiveActionFailed as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The call is being ended.")
    return redirect("calls:detail", pk=call.pk)


@requires(Capability.TRIGGER_CALLS)
@require_POST
def call_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    call = _get_call(pk)
    try:
        message = services.call_transfer(call=call, user=request.user)
    except services.LiveActionFailed as exc:
        messages.error(request, exc.message)
        if exc.no_agents:
            return redirect(reverse("calls:detail", kwargs={"pk": call.pk}) + "?handoff=offer")
    else:
        messages.success(request, message)
    return redirect("calls:detail", pk=call.pk)


@requires(Capability.TRIGGER_CALLS)
@require_POST
def call_handoff(request: HttpRequest, pk: int) -> HttpResponse:
    call = _get_call(pk)
    services.call_request_handoff(
        call=call, user=request.user, note=request.POST.get("note", "").strip()
    )
    messages.success(request, "Recorded: a human will call this contact back.")
    return redirect("calls:detail", pk=call.pk)
