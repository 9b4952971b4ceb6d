"""Pushing contacts to the voice platform's customer import: choose (on the contacts page),
confirm, then watch the progress and each contact's result."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, requires
from contacts import selectors
from contacts.customer_push import (
    BATCH_SIZE,
    MAX_PUSH_CONTACTS,
    PushRefused,
    customer_push_create,
    describe_selection,
    estimated_minutes,
    rows_of,
)
from contacts.models import Contact, CustomerPush, PushRowStatus
from contacts.page_filters import ContactFilters
from vendors.models import VendorAccount, VendorKind

PAGE_SIZE = 50
# What the contacts page's filters are called in its URL (kept when "all matching" is chosen).
POLL_SECONDS = 2


def voice_accounts() -> QuerySet[VendorAccount]:
    return VendorAccount.objects.filter(kind=VendorKind.VOICE_PLATFORM, is_active=True)


class PushForm(forms.Form):
    vendor_account = forms.ModelChoiceField(
        queryset=voice_accounts(), empty_label=None, label="Voice-platform account"
    )


def _selection(params: QueryDict) -> tuple[QuerySet[Contact], str, dict[str, Any]]:
    """The chosen contacts, how to describe them, and what to carry into the confirm form.

    Either picked one by one (`contact=12&contact=15`) or everyone matching the contacts
    page's search and filters (`scope=search&q=...`).
    """
    if params.get("scope") == "search":
        filters = ContactFilters.from_params(params)
        contacts = filters.contacts()
        count = contacts.count()
        carried = {"scope": "search", **filters.params()}
        described = describe_selection(None, filters.q, count, filtered=filters.filtered)
        return contacts, described, carried
    ids = sorted({int(value) for value in params.getlist("contact") if value.isdigit()})
    contacts = selectors.contact_list().filter(pk__in=ids)
    count = contacts.count()
    return contacts, describe_selection(ids, "", count), {"contact": ids}


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def customer_push_new(request: HttpRequest) -> HttpResponse:
    """GET: what will be sent, to which account (a confirmation page). POST: start the push."""
    params = request.POST if request.method == "POST" else request.GET
    contacts, selection, carried = _selection(params)
    count = contacts.count()
    if not voice_accounts().exists():
        messages.error(request, "No voice-platform connection is enabled.")
        return redirect("contacts:list")
    if count == 0:
        messages.error(request, "Choose contacts first: tick them in the list.")
        return redirect("contacts:list")
    form = PushForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        account = form.cleaned_data["vendor_account"]
        try:
            push = customer_push_create(
                account=account, contacts=contacts, selection=selection, created_by=request.user
            )
        except PushRefused as exc:
            error = exc.message
        else:
            audit_record(
                action=AuditAction.VENDOR_ACCOUNT_UPDATED,
                request=request,
                target=f"vendor account {account.name}",
                detail={
                    "account_id": account.pk,
                    "customers_pushed": push.total_rows - push.skipped_count,
                    "customer_push_id": push.pk,
                },
            )
            return redirect("contacts:push_detail", pk=push.pk)
    on_dnc = contacts.filter(on_dnc=True).count()
    sendable = count - on_dnc
    batches = -(-sendable // BATCH_SIZE)
    context = {
        "form": form,
        "error": error,
        "selection": selection,
        "count": count,
        "on_dnc": on_dnc,
        "sendable": sendable,
        "batches": batches,
        "minutes": estimated_minutes(batches),
        "too_many": count > MAX_PUSH_CONTACTS,
        "max_contacts": MAX_PUSH_CONTACTS,
        "carried": carried,
        "first_contacts": contacts.order_by("name", "pk")[:10],
    }
    return render(request, "contacts/push_new.html", context, status=400 if error else 200)


@requires(Capability.EDIT_CONTACTS)
@require_GET
def customer_pushes(request: HttpRequest) -> HttpResponse:
    pushes = CustomerPush.objects.select_related("vendor_account", "created_by")
    page = Paginator(pushes, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "contacts/pushes.html", {"page": page})


@requires(Capability.EDIT_CONTACTS)
@require_GET
def customer_push_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        push = CustomerPush.objects.select_related("vendor_account", "created_by").get(pk=pk)
    except CustomerPush.DoesNotExist:
        raise Http404("No such push.") from None
    context: dict[str, Any] = {"push": push, "poll_seconds": POLL_SECONDS if push.is_active else 0}
    if request.htmx and request.htmx.target == "push-status":
        response = render(request, "contacts/push_detail.html#status", context)
        if push.is_active:
            return response
        # Finished: stop polling, and show the whole page once with every row's result.
        stop = HttpResponseStopPolling(response.content)
        stop["HX-Refresh"] = "true"
        return stop
    status = request.GET.get("status", "")
    if status not in PushRowStatus.values:
        status = ""
    page = Paginator(rows_of(push, status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = {
        PushRowStatus.ACCEPTED: push.accepted_count,
        PushRowStatus.REJECTED: push.rejected_count,
        PushRowStatus.SKIPPED: push.skipped_count,
        PushRowStatus.PENDING: push.total_rows
        - push.accepted_count
        - push.rejected_count
        - push.skipped_count,
    }
    context.update(
        {
            "page": page,
            "status": status,
            "statuses": [(value, label, counts[value]) for value, label in PushRowStatus.choices],
        }
    )
    return render(request, "contacts/push_detail.html", context)
