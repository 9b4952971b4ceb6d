"""Quality pages: scorecards (managers and admins define them), scoring a call from the review
queue, calibration between reviewers, agreement with CallCov, and the quality figures."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, requires
from calls.models import Call, CallState
from contacts.csv_export import EchoBuffer, inert_cell
from quality import agreement, scorecards, trends
from quality.forms import ItemFormSet, QualityFiltersForm, ScorecardForm
from quality.models import Scorecard
from quality.sources import CALLCOV_COMPLIANCE_CHECKS, CALLCOV_QUALITY_DIMENSIONS, METRICS

# --- Scorecards ----------------------------------------------------------------------------------


def _get_scorecard(pk: int) -> Scorecard:
    scorecard = Scorecard.objects.select_related("campaign", "vendor_account").filter(pk=pk).first()
    if scorecard is None:
        raise Http404("No such scorecard.")
    return scorecard


@requires(Capability.REVIEW_CALLS)
@require_GET
def scorecard_list(request: HttpRequest) -> HttpResponse:
    return render(request, "quality/scorecards.html", {"scorecards": scorecards.scorecard_list()})


def _initial_items(scorecard: Scorecard | None) -> list[dict[str, Any]]:
    version = scorecards.current_version(scorecard) if scorecard else None
    if version is None:
        return []
    fields = ("label", "description", "kind", "weight", "allows_na", "critical", "source")
    fields += ("source_key", "threshold", "direction")
    return [{field: getattr(item, field) for field in fields} for item in version.items.all()]


def _edit(request: HttpRequest, scorecard: Scorecard | None) -> HttpResponse:
    if request.method == "POST":
        form = ScorecardForm(request.POST)
        items = ItemFormSet(request.POST, prefix="items")
        if form.is_valid() and items.is_valid():
            specs = [row.spec() for row in items if row.cleaned_data.get("label", "").strip() != ""]
            data = form.cleaned_data
            try:
                saved, versioned = scorecards.scorecard_save(
                    scorecard=scorecard,
                    name=data["name"],
                    items=specs,
                    user=request.user,
                    campaign_id=data["campaign"].pk if data["campaign"] else None,
                    vendor_account_id=data["vendor_account"].pk if data["vendor_account"] else None,
                    is_active=data["is_active"],
                )
            except scorecards.ScorecardRejected as exc:
                form.add_error(None, str(exc))
            else:
                version = scorecards.current_version(saved)
                audit_record(
                    action=AuditAction.SCORECARD_CHANGED,
                    request=request,
                    target=f"scorecard {saved.name}"[:200],
                    detail={
                        "scorecard": saved.pk,
                        "created": scorecard is None,
                        "version": version.number if version else None,
                        "new_version": versioned,
                        "items": [spec.label for spec in specs],
                        "active": saved.is_active,
                    },
                )
                note = f" as version {version.number}" if versioned and version else ""
                messages.success(request, f"Scorecard “{saved.name}” saved{note}.")
                return redirect("quality:scorecard_edit", pk=saved.pk)
    else:
        initial = {"is_active": True}
        if scorecard is not None:
            initial = {
                "name": scorecard.name,
                "campaign": scorecard.campaign_id,
                "vendor_account": scorecard.vendor_account_id,
                "is_active": scorecard.is_active,
            }
        form = ScorecardForm(initial=initial)
        items = ItemFormSet(initial=_initial_items(scorecard), prefix="items")
    versions = (
        list(scorecard.versions.select_related("created_by").order_by("-number"))
        if scorecard
        else []
    )
    context = {
        "scorecard": scorecard,
        "form": form,
        "items": items,
        "versions": versions,
        "source_keys": {
            "callcov_compliance": CALLCOV_COMPLIANCE_CHECKS,
            "callcov_quality": CALLCOV_QUALITY_DIMENSIONS,
            "metric": METRICS,
        },
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "quality/scorecard_form.html", context, status=status)


@requires(Capability.REVIEW_CALLS)
@require_http_methods(["GET", "POST"])
def scorecard_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@requires(Capability.REVIEW_CALLS)
@require_http_methods(["GET", "POST"])
def scorecard_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, _get_scorecard(pk))


# --- Scoring a call (from the review queue) -------------------------------------------------------


def _answer(raw: str | None) -> tuple[bool, int | None]:
    """A posted answer: (given, value). "na" is N/A; digits are the answer."""
    if raw is None or raw == "":
        return False, None
    if raw == "na":
        return True, None
    if raw.isdigit() and len(raw) == 1:
        return True, int(raw)
    return True, -1  # refused by the service as "not an answer this item takes"


def _review_url(queue: str, call_id: int) -> str:
    query = QueryDict(queue, mutable=True)
    query["call"] = str(call_id)
    return reverse("review") + "?" + query.urlencode()


@requires(Capability.REVIEW_CALLS)
@require_POST
def score_save(request: HttpRequest, pk: int) -> HttpResponse:
    call = Call.objects.filter(pk=pk, state=CallState.ENDED).first()
    if call is None:
        raise Http404("No ended call with this id.")
    version_id = request.POST.get("version", "")
    answers: dict[int, int | None] = {}
    for key, raw in request.POST.items():
        if key.startswith("item-") and key[5:].isdigit() and len(key) < 20:
            given, value = _answer(raw)
            if given:
                answers[int(key[5:])] = value
    queue = request.POST.get("queue", "")[:2000]
    try:
        if not version_id.isdigit() or len(version_id) > 12:
            raise scorecards.ScoreRejected("The form names no scorecard version.")
        score = scorecards.call_score_save(
            call=call, reviewer=request.user, version_id=int(version_id), answers=answers
        )
    except scorecards.ScoreRejected as exc:
        context = {"call": call, "error": str(exc), "back": _review_url(queue, call.pk)}
        return render(request, "quality/score_rejected.html", context, status=400)
    verdict = "failed (critical item)" if score.failed_critical else f"{score.score:g}"
    if score.score is None:
        verdict = "not applicable"
    messages.success(request, f"Call {call.pk} scored: {verdict}.")
    return redirect(_review_url(queue, call.pk) + "#scorecard")


# --- Calibration and agreement -------------------------------------------------------------------


@requires(Capability.REVIEW_CALLS)
@require_GET
def calibration_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(agreement.calibration_calls(), 50).get_page(request.GET.get("page"))
    return render(request, "quality/calibration_list.html", {"page": page})


@requires(Capability.REVIEW_CALLS)
@require_GET
def calibration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = Call.objects.select_related("agent", "campaign").filter(pk=pk).first()
    if call is None:
        raise Http404("No such call.")
    calibration = agreement.calibration_for(call=call)
    rows = [
        {
            "label": row.label,
            "answers": [agreement.answer_label(row.kind, value) for value in row.values],
            "spread": row.spread,
            "kind": row.kind,
        }
        for row in calibration.rows
    ]
    context = {"call": call, "calibration": calibration, "rows": rows}
    return render(request, "quality/calibration_detail.html", context)


@requires(Capability.VIEW_ANALYTICS)
@require_GET
def agreement_page(request: HttpRequest) -> HttpResponse:
    choices = agreement.scorecards_with_automatic_items()
    wanted = request.GET.get("scorecard", "")
    chosen = next((s for s in choices if str(s.pk) == wanted), choices[0] if choices else None)
    rows = agreement.agreement_by_item(scorecard=chosen) if chosen else []
    context = {"scorecards": choices, "chosen": chosen, "rows": rows}
    return render(request, "quality/agreement.html", context)


# --- Quality figures -----------------------------------------------------------------------------


def _filters(request: HttpRequest) -> tuple[QualityFiltersForm, dict[str, Any]]:
    form = QualityFiltersForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    return form, {
        "group_by": data.get("group_by") or trends.GroupBy.AGENT,
        "since": data.get("since"),
        "until": data.get("until"),
    }


@requires(Capability.VIEW_ANALYTICS)
@require_GET
def quality(request: HttpRequest) -> HttpResponse:
    form, params = _filters(request)
    context = {
        "form": form,
        "params": params,
        "trend": trends.score_trend(**params),
        "worst": trends.worst_items(since=params["since"], until=params["until"]),
        "conversation": trends.conversation_trend(**params),
        "groupings": trends.GroupBy.CHOICES,
        "export_query": request.GET.urlencode(),
    }
    if form.errors:
        return render(request, "quality/quality.html", context, status=400)
    return render(request, "quality/quality.html", context)


@requires(Capability.VIEW_ANALYTICS)
@require_GET
def quality_export(request: HttpRequest) -> HttpResponse:
    """The score trend (or, with ?series=conversation, the conversation metrics) as CSV, for the
    same grouping and dates as the page."""
    form, params = _filters(request)
    series = request.GET.get("series", "scores")
    if form.errors or series not in ("scores", "conversation"):
        problem = form.errors.as_text() or "series is scores or conversation."
        return HttpResponse("Bad filters: " + problem, status=400, content_type="text/plain")
    group_label = dict(trends.GroupBy.CHOICES)[params["group_by"]]
    writer = csv.writer(EchoBuffer())
    if series == "scores":
        header = ["week", group_label, "scores", "average score", "failed calls"]
        rows = [
            [row.week.isoformat(), row.group, row.scores, row.average, row.failed]
            for row in trends.score_trend(**params)
        ]
    else:
        header = [
            "week",
            group_label,
            "measured calls",
            "agent talk share %",
            "response gap p50 s",
            "response gap p90 s",
            "long silences per call",
            "agent interruptions per call",
            "agent words per minute",
        ]
        rows = [
            [
                row.week.isoformat(),
                row.group,
                row.calls,
                row.talk_share,
                row.response_gap_p50,
                row.response_gap_p90,
                row.long_silences,
                row.agent_interruptions,
                row.agent_words_per_minute,
            ]
            for row in trends.conversation_trend(**params)
        ]
    lines = [writer.writerow([inert_cell(cell) for cell in header])]
    lines += [writer.writerow([inert_cell(cell) for cell in row]) for row in rows]
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    name = f"quality-{series}-{params['group_by']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
