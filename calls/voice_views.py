"""Voice-platform configuration pages: AI agents and flows, speaker voices, and the live badge
of free human agents. Operators and admins create; everyone who sees agents sees them.

Vendor requests here are interactive (one attempt, no long wait for the rate budget): a spent
budget is answered with the time to try again, a refusal with the vendor's own words.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, has_capability, requires
from calls.agent_config import voice_agent_create, voice_configuration_refresh
from calls.voice_forms import (
    SampleUploadForm,
    SpeakerForm,
    VoiceAgentForm,
    VoiceFlowForm,
    voice_accounts,
)
from vendors.models import Speaker, SpeakerStatus, VendorAccount, VoiceFlow
from vendors.voice_config import (
    Availability,
    UploadedFile,
    VoiceConfigError,
    flow_create,
    human_availability,
    speaker_create,
    speaker_deploy,
    speaker_refresh,
    speaker_upload_samples,
)

logger = logging.getLogger(__name__)

# How often a deploying speaker's page asks for news (seconds); the template uses it too.
SPEAKER_POLL_SECONDS = 2
# At most this many deploying speakers are read from the vendor when the list is shown.
SPEAKERS_REFRESHED_PER_LIST = 5


def _audit(request: HttpRequest, account: VendorAccount, **detail: Any) -> None:
    """Vendor-side configuration is recorded as a change of the vendor connection."""
    audit_record(
        action=AuditAction.VENDOR_ACCOUNT_UPDATED,
        request=request,
        target=f"vendor account {account.name}",
        detail={"account_id": account.pk, **detail},
    )


def agents_page_extras(request: HttpRequest) -> dict[str, Any]:
    """What the agents page shows about the voice platform: its flows and what one may do."""
    accounts = list(voice_accounts())
    return {
        "voice_accounts": accounts,
        "can_configure": bool(accounts)
        and has_capability(request.user, Capability.CONFIGURE_AGENTS),
        "flows": VoiceFlow.objects.filter(vendor_account__in=accounts)
        .select_related("vendor_account")
        .order_by("vendor_account__name", "name", "id"),
    }


def _no_voice_account(request: HttpRequest) -> HttpResponse | None:
    if voice_accounts().exists():
        return None
    messages.error(
        request,
        "No voice-platform connection is enabled: an admin adds one under Settings → "
        "Vendor connections.",
    )
    return redirect("calls:agents")


# --- Agents and flows ------------------------------------------------------------------------


@requires(Capability.CONFIGURE_AGENTS)
@require_http_methods(["GET", "POST"])
def agent_new(request: HttpRequest) -> HttpResponse:
    """Create an AI agent at the voice platform; it can place calls as soon as it exists."""
    if missing := _no_voice_account(request):
        return missing
    form = VoiceAgentForm(request.POST) if request.method == "POST" else _agent_form(request)
    vendor_refusal = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        flow = data["flow"]
        try:
            agent = voice_agent_create(
                account=data["vendor_account"],
                name=data["name"],
                flow_id=flow.vendor_flow_id if flow else None,
                voice=data["voice"] or None,
                language=data["language"] or None,
                config=data["config"] or None,
                request_key=data["request_key"] or None,
            )
        except VoiceConfigError as exc:
            form.add_error(None, exc.message)
            vendor_refusal = exc.vendor_message
            form.renew_request_key()
        else:
            _audit(
                request,
                data["vendor_account"],
                voice_agent_created=agent.vendor_agent_id,
                name=agent.name,
            )
            messages.success(
                request,
                f"Agent {agent.name} created at the voice platform: it can place calls and "
                "run campaigns now.",
            )
            return redirect("calls:agent", pk=agent.pk)
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "vendor_refusal": vendor_refusal}
    return render(request, "calls/voice_agent_form.html", context, status=status)


def _agent_form(request: HttpRequest) -> VoiceAgentForm:
    """A blank form, with the flow (and its account) chosen when ?flow= names one."""
    flow_id = request.GET.get("flow", "")
    flow = (
        VoiceFlow.objects.filter(pk=int(flow_id), is_active=True).first()
        if flow_id.isdigit()
        else None
    )
    if flow is None:
        return VoiceAgentForm()
    return VoiceAgentForm(initial={"flow": flow.pk, "vendor_account": flow.vendor_account_id})


@requires(Capability.CONFIGURE_AGENTS)
@require_http_methods(["GET", "POST"])
def flow_new(request: HttpRequest) -> HttpResponse:
    if missing := _no_voice_account(request):
        return missing
    form = VoiceFlowForm(request.POST or None)
    vendor_refusal = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            flow = voice_flow_create(request, data)
        except VoiceConfigError as exc:
            form.add_error(None, exc.message)
            vendor_refusal = exc.vendor_message
            form.renew_request_key()
        else:
            messages.success(request, f"Flow {flow.name} created: agents can use it now.")
            return redirect(reverse("calls:agent_new") + f"?flow={flow.pk}")
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "vendor_refusal": vendor_refusal}
    return render(request, "calls/voice_flow_form.html", context, status=status)


def voice_flow_create(request: HttpRequest, data: dict[str, Any]) -> VoiceFlow:
    flow = flow_create(
        account=data["vendor_account"],
        name=data["name"],
        config=data["config"],
        created_by=request.user,
        request_key=data["request_key"] or None,
    )
    _audit(request, data["vendor_account"], voice_flow_created=flow.vendor_flow_id, name=flow.name)
    return flow


@requires(Capability.CONFIGURE_AGENTS)
@require_POST
def voice_refresh(request: HttpRequest) -> HttpResponse:
    """Copy agents and flows from every enabled voice-platform account now."""
    for account in voice_accounts():
        try:
            agents, flows = voice_configuration_refresh(account=account)
        except VoiceConfigError as exc:
            messages.error(request, f"{account.name}: {exc.message}")
        else:
            messages.success(
                request,
                f"{account.name}: {agents} agent{'s' if agents != 1 else ''} and "
                f"{flows} flow{'s' if flows != 1 else ''} listed by the voice platform.",
            )
    return redirect("calls:agents")


# --- Speaker voices --------------------------------------------------------------------------


def _get_speaker(pk: int) -> Speaker:
    try:
        return Speaker.objects.select_related("vendor_account", "created_by").get(pk=pk)
    except Speaker.DoesNotExist:
        raise Http404("No such speaker voice.") from None


@requires(Capability.VIEW_AGENTS)
@require_GET
def speakers(request: HttpRequest) -> HttpResponse:
    # Speakers still training are read again (throttled per speaker), so the list does not
    # keep saying "deploying" for a voice nobody has opened since.
    deploying = Speaker.objects.filter(
        status=SpeakerStatus.DEPLOYING, vendor_account__is_active=True
    ).select_related("vendor_account")
    for speaker in deploying[:SPEAKERS_REFRESHED_PER_LIST]:
        speaker_refresh(speaker=speaker)
    queryset = Speaker.objects.select_related("vendor_account").order_by(
        "vendor_account__name", "name", "id"
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "can_configure": has_capability(request.user, Capability.CONFIGURE_AGENTS)
        and voice_accounts().exists(),
    }
    return render(request, "calls/speakers.html", context)


@requires(Capability.CONFIGURE_AGENTS)
@require_http_methods(["GET", "POST"])
def speaker_new(request: HttpRequest) -> HttpResponse:
    if missing := _no_voice_account(request):
        return missing
    form = SpeakerForm(request.POST or None)
    vendor_refusal = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            speaker, adopted = speaker_create(
                account=data["vendor_account"],
                name=data["name"],
                language=data["language"],
                created_by=request.user,
            )
        except VoiceConfigError as exc:
            form.add_error(None, exc.message)
            vendor_refusal = exc.vendor_message
        else:
            _audit(request, speaker.vendor_account, speaker_created=speaker.name)
            if adopted:
                messages.info(
                    request,
                    f"The voice platform already had a speaker named {speaker.name}: "
                    "callops now shows it here.",
                )
            else:
                messages.success(
                    request, f"Speaker {speaker.name} created. Upload its samples next."
                )
            return redirect("calls:speaker", pk=speaker.pk)
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "vendor_refusal": vendor_refusal}
    return render(request, "calls/speaker_form.html", context, status=status)


def _speaker_context(request: HttpRequest, speaker: Speaker, **extra: Any) -> dict[str, Any]:
    return {
        "speaker": speaker,
        "samples": speaker.sample_files.select_related("uploaded_by").all(),
        "can_configure": has_capability(request.user, Capability.CONFIGURE_AGENTS)
        and speaker.vendor_account.is_active,
        "upload_form": SampleUploadForm(),
        "poll_seconds": SPEAKER_POLL_SECONDS if speaker.is_deploying else 0,
        **extra,
    }


@requires(Capability.VIEW_AGENTS)
@require_GET
def speaker_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A speaker and its state, read again from the vendor (at most every 2 s for everyone)."""
    speaker = _get_speaker(pk)
    if speaker.vendor_account.is_active:
        speaker = speaker_refresh(speaker=speaker)
    context = _speaker_context(request, speaker)
    if request.htmx and request.htmx.target == "speaker-status":
        response = render(request, "calls/speaker_detail.html#status", context)
        if speaker.is_deploying:
            return response
        # Deployed (or failed): stop polling and show the whole page once in its new state.
        stop = HttpResponseStopPolling(response.content)
        stop["HX-Refresh"] = "true"
        return stop
    return render(request, "calls/speaker_detail.html", context)


@requires(Capability.CONFIGURE_AGENTS)
@require_POST
def speaker_samples(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload audio samples: every file is checked (size, real type) before any is sent."""
    speaker = _get_speaker(pk)
    form = SampleUploadForm(request.POST, request.FILES)
    if form.is_valid():
        files = [
            UploadedFile(name=upload.name or "sample", size=upload.size or 0, file=upload)
            for upload in form.cleaned_data["files"]
        ]
        try:
            report = speaker_upload_samples(speaker=speaker, files=files, uploaded_by=request.user)
        except VoiceConfigError as exc:
            form.add_error("files", exc.message)
        else:
            if report.uploaded:
                _audit(
                    request,
                    speaker.vendor_account,
                    speaker_samples=speaker.name,
                    files=report.uploaded,
                )
                messages.success(
                    request,
                    f"{len(report.uploaded)} sample{'s' if len(report.uploaded) != 1 else ''} "
                    f"uploaded; the voice platform holds {speaker.samples} now.",
                )
            if report.error is not None:
                messages.error(
                    request,
                    f"{report.error.message} Not uploaded: {', '.join(report.not_uploaded)}.",
                )
            return redirect("calls:speaker", pk=speaker.pk)
    context = _speaker_context(request, speaker, upload_form=form)
    return render(request, "calls/speaker_detail.html", context, status=400)


@requires(Capability.CONFIGURE_AGENTS)
@require_POST
def speaker_deploy_view(request: HttpRequest, pk: int) -> HttpResponse:
    speaker = _get_speaker(pk)
    try:
        speaker = speaker_deploy(speaker=speaker)
    except VoiceConfigError as exc:
        messages.error(request, exc.message)
    else:
        _audit(request, speaker.vendor_account, speaker_deployed=speaker.name)
        messages.success(
            request,
            f"{speaker.name} is deploying: the voice platform is training it. This page "
            "shows when it is ready.",
        )
    return redirect("calls:speaker", pk=speaker.pk)


# --- Free human agents (layout badge) --------------------------------------------------------


@requires(Capability.TRIGGER_CALLS)
@require_GET
def human_agents(request: HttpRequest) -> HttpResponse:
    """The badge's content, polled by htmx: free humans per enabled voice-platform account.

    Answers come from a ~15 s cache shared by every browser; a vendor error (or any other
    trouble) shows as "unknown", never as an error page.
    """
    rows: list[Availability] = []
    for account in voice_accounts():
        try:
            rows.append(human_availability(account=account))
        except Exception:
            logger.exception("Human-agent availability of %s failed", account.name)
            rows.append(Availability(account.name, None, None))
    context = {"rows": rows, "several": len(rows) > 1}
    return render(request, "calls/_human_agents.html", context)
