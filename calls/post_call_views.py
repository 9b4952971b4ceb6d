"""Pages of post-call rules, and retrying a post-call step from the call page."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Capability, requires
from calls import post_call, selectors
from calls.forms import PostCallRuleForm
from calls.models import PostCallRule, PostCallStep
from vendors.models import VendorAccount, VendorKind


def _get_rule(pk: int) -> PostCallRule:
    rule = selectors.post_call_rule_list().filter(pk=pk).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


def _id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


@requires(Capability.MANAGE_POST_CALL_RULES)
@require_GET
def rules(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.post_call_rule_list(), 50).get_page(request.GET.get("page"))
    return render(request, "calls/post_call_rules.html", {"page": page})


def _revor_account(source: Any, rule: PostCallRule | None) -> VendorAccount | None:
    """The Revor account whose senders the form offers: the one chosen, else the rule's."""
    chosen = _id(source.get("follow_up_account")) if source is not None else None
    if chosen is not None:
        return VendorAccount.objects.filter(pk=chosen, kind=VendorKind.REVOR).first()
    if source is not None and "follow_up_account" in source:
        return None  # "—" chosen
    return rule.follow_up_account if rule is not None else None


def _initial(request: HttpRequest) -> dict[str, Any]:
    """A new rule may start from a campaign's or an account's page (?campaign= / ?account=)."""
    initial: dict[str, Any] = {"is_active": True}
    campaign_id, account_id = _id(request.GET.get("campaign")), _id(request.GET.get("account"))
    if campaign_id is not None:
        campaign = apps.get_model("campaigns", "Campaign").objects.filter(pk=campaign_id).first()
        if campaign is not None:
            initial.update(campaign=campaign.pk, name=f"After {campaign.name}")
    elif account_id is not None:
        initial["vendor_account"] = account_id
    return initial


def _edit(request: HttpRequest, rule: PostCallRule | None) -> HttpResponse:
    is_post = request.method == "POST"
    # Choosing a Revor account reloads the sender choices: the senders region through htmx,
    # the whole form through the "Show its senders" button without JavaScript.
    refreshing = not is_post and "follow_up_account" in request.GET
    source = request.POST if is_post else (request.GET if refreshing else None)
    senders = selectors.revor_senders(account=_revor_account(source, rule))
    if is_post:
        form = PostCallRuleForm(request.POST, instance=rule, senders=senders.choices)
        if form.is_valid():
            saved = post_call.post_call_rule_save(rule=form.save(commit=False), user=request.user)
            messages.success(
                request, f"Rule “{saved.name}” saved. It applies to calls that end from now on."
            )
            return redirect("calls:rules")
    elif refreshing:
        initial = {**request.GET.dict(), "outcomes": request.GET.getlist("outcomes")}
        form = PostCallRuleForm(initial=initial, instance=rule, senders=senders.choices)
    else:
        form = PostCallRuleForm(
            instance=rule, initial=None if rule else _initial(request), senders=senders.choices
        )
    context = {"form": form, "rule": rule, "senders_error": senders.error}
    if refreshing and request.htmx and request.htmx.target == "sender-field":
        return render(request, "calls/post_call_rule_form.html#sender-field", context)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "calls/post_call_rule_form.html", context, status=status)


@requires(Capability.MANAGE_POST_CALL_RULES)
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@requires(Capability.MANAGE_POST_CALL_RULES)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, _get_rule(pk))


@requires(Capability.MANAGE_POST_CALL_RULES)
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    rule = _get_rule(pk)
    if request.method == "GET":
        return render(request, "calls/post_call_rule_delete.html", {"rule": rule})
    name = rule.name
    post_call.post_call_rule_delete(rule=rule)
    messages.success(request, f"Rule “{name}” deleted. Steps it already made stay on their calls.")
    return redirect("calls:rules")


@requires(Capability.TRIGGER_CALLS)
@require_POST
def step_retry(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    step = PostCallStep.objects.filter(pk=step_pk, call_id=pk).first()
    if step is None:
        raise Http404("No such step.")
    try:
        post_call.post_call_step_retry(step_id=step.pk, user=request.user)
    except post_call.StepNotRetryable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{post_call.step_label(step)} will run again.")
    return redirect(reverse("calls:detail", kwargs={"pk": pk}) + "#after-the-call")
