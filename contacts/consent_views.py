"""Consent records on the contact page: add, change and delete (operators and admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.roles import Capability, requires
from contacts import consent, selectors
from contacts.forms import ConsentForm
from contacts.models import ConsentRecord, Contact


def _get_contact(pk: int) -> Contact:
    try:
        return selectors.contact_get(pk=pk)
    except Contact.DoesNotExist:
        raise Http404("No such contact.") from None


def _get(pk: int, consent_pk: int) -> tuple[Contact, ConsentRecord]:
    contact = _get_contact(pk)
    record = ConsentRecord.objects.filter(pk=consent_pk, contact=contact).first()
    if record is None:
        raise Http404("No such consent record.")
    return contact, record


def _save(request: HttpRequest, contact: Contact, record: ConsentRecord | None) -> HttpResponse:
    if request.method == "POST":
        form = ConsentForm(request.POST)
        if form.is_valid():
            try:
                if record is None:
                    consent.consent_add(
                        contact=contact, values=form.values(), added_by=request.user
                    )
                else:
                    consent.consent_update(record=record, values=form.values())
            except consent.ConsentError as exc:
                form.add_error(exc.field or None, exc.message)
            else:
                messages.success(request, "Consent saved.")
                return redirect(reverse("contacts:detail", kwargs={"pk": contact.pk}) + "#consent")
    else:
        form = ConsentForm.for_record(record) if record else ConsentForm()
    status = 400 if form.is_bound and form.errors else 200
    context = {"contact": contact, "record": record, "form": form}
    return render(request, "contacts/consent_form.html", context, status=status)


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def consent_new(request: HttpRequest, pk: int) -> HttpResponse:
    return _save(request, _get_contact(pk), None)


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def consent_edit(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    contact, record = _get(pk, consent_pk)
    return _save(request, contact, record)


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def consent_delete(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    """GET asks for confirmation (works without JavaScript); POST deletes."""
    contact, record = _get(pk, consent_pk)
    back = reverse("contacts:detail", kwargs={"pk": contact.pk})
    if request.method == "POST":
        consent.consent_delete(record=record)
        messages.success(request, "Consent record deleted.")
        return redirect(back + "#consent")
    return render(
        request,
        "contacts/confirm_delete.html",
        {
            "title": f"Delete this {record.get_consent_type_display().lower()} consent?",
            "explanation": "Campaigns that require this consent will no longer dial the "
            "contact on its basis. The record cannot be brought back.",
            "action": request.path,
            "button": "Delete consent",
            "cancel": back,
        },
    )
