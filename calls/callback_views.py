"""The callback queue page, and an operator setting, moving or cancelling a callback."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Capability, has_capability, requires
from calls import callback_selectors as selectors
from calls.callbacks import CallbackRejected, callback_cancel, callback_set_time, local_text
from calls.models import Callback, CallbackStatus


class CallbackTimeForm(forms.Form):
    when = forms.DateTimeField(
        label="Call back at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and a time, such as 2026-12-04 15:00."},
    )


def _get(pk: int) -> Callback:
    callback = selectors.callback_get(pk=pk)
    if callback is None:
        raise Http404("No such callback.")
    return callback


def _back(request: HttpRequest, callback: Callback) -> str:
    """Where to go after a change: the page the operator came from (?next=), else the queue."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    tab = "booked" if callback.status == CallbackStatus.BOOKED else "needs_time"
    return f"{reverse('calls:callbacks')}?tab={tab}"


@requires(Capability.VIEW_CALLS)
@require_GET
def callback_queue(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("tab", "needs_time")
    if tab not in selectors.QUEUE_TABS:
        tab = "needs_time"
    page = Paginator(selectors.callback_queue(tab=tab), 50).get_page(request.GET.get("page"))
    context = {
        "tab": tab,
        "tabs": [
            (key, label, count)
            for (key, (label, _statuses)), count in zip(
                selectors.QUEUE_TABS.items(), selectors.callback_counts().values(), strict=True
            )
        ],
        "page": page,
        "can_edit": has_capability(request.user, Capability.TRIGGER_CALLS),
    }
    if request.htmx and request.htmx.target == "callback-list":
        return render(request, "calls/callbacks.html#callback-list", context)
    return render(request, "calls/callbacks.html", context)


@requires(Capability.TRIGGER_CALLS)
@require_http_methods(["GET", "POST"])
def callback_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Set or move the time of an open callback, in the contact's time zone."""
    callback = _get(pk)
    zone = ZoneInfo(callback.time_zone)
    status = 200
    with timezone.override(zone):  # the form reads and shows the time in the contact's zone
        if request.method == "POST":
            form = CallbackTimeForm(request.POST)
            if form.is_valid():
                try:
                    booked = callback_set_time(
                        callback_id=callback.pk, due=form.cleaned_data["when"], user=request.user
                    )
                except CallbackRejected as exc:
                    form.add_error("when", str(exc))
                else:
                    when = local_text(form.cleaned_data["when"], zone)
                    messages.success(request, f"Callback to {callback.to_number} set for {when}.")
                    return redirect(_back(request, booked))
            status = 400
        else:
            initial = {"when": callback.due_at.astimezone(zone)} if callback.due_at else {}
            form = CallbackTimeForm(initial=initial)
        context = {"callback": callback, "form": form, "next": _back(request, callback)}
        return render(request, "calls/callback_edit.html", context, status=status)


@requires(Capability.TRIGGER_CALLS)
@require_http_methods(["GET", "POST"])
def callback_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST cancels (or dismisses one that waits for a time)."""
    callback = _get(pk)
    if request.method == "GET":
        context = {"callback": callback, "next": _back(request, callback)}
        return render(request, "calls/callback_cancel.html", context)
    back = _back(request, callback)
    try:
        done = callback_cancel(callback_id=callback.pk, user=request.user)
    except CallbackRejected as exc:
        context = {"callback": callback, "next": back, "error": str(exc)}
        return render(request, "calls/callback_cancel.html", context, status=409)
    messages.success(
        request, f"Callback to {callback.to_number} {done.get_status_display().lower()}."
    )
    return redirect(back)
