from __future__ import annotations

import csv
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, denied_reason, has_capability, requires
from contacts import consent, selectors, services
from contacts.csv_export import EchoBuffer, inert_cell
from contacts.csv_import import (
    FIELDS,
    MAX_HEADER_BYTES,
    PREVIEW_BYTES,
    CsvFileError,
    TooManyColumns,
    check_header,
    preview,
    read_header,
)
from contacts.forms import (
    ContactForm,
    ContactListForm,
    DoNotCallForm,
    DoNotCallRemoveForm,
    ImportMappingForm,
    ImportUploadForm,
)
from contacts.import_rows import CHANGED_FIELDS
from contacts.models import Contact, ContactImport, ContactList, DoNotCallEntry, ImportStatus
from contacts.page_filters import ContactFilters
from contacts.push_views import voice_accounts as push_voice_accounts

PAGE_SIZE = 50


def _get_contact(pk: int) -> Contact:
    try:
        return selectors.contact_get(pk=pk)
    except Contact.DoesNotExist:
        raise Http404("No such contact.") from None


def _status(form: forms.Form) -> int:
    return 400 if form.is_bound and form.errors else 200


def _get_import(pk: int, *, columns: bool = True) -> ContactImport:
    try:
        return selectors.contact_import_get(pk=pk, columns=columns)
    except ContactImport.DoesNotExist:
        raise Http404("No such import.") from None


def _require_edit(request: HttpRequest) -> None:
    if not has_capability(request.user, Capability.EDIT_CONTACTS):
        raise PermissionDenied(denied_reason(Capability.EDIT_CONTACTS))


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- Contacts -----------------------------------------------------------------------------------


@requires(Capability.VIEW_CONTACTS)
def contacts(request: HttpRequest) -> HttpResponse:
    filters = ContactFilters.from_params(request.GET)
    page = Paginator(filters.contacts(), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        **filters.context(),
        "can_edit": has_capability(request.user, Capability.EDIT_CONTACTS),
    }
    # Ticking contacts to push them to the voice platform (contacts/push_views.py).
    context["can_push"] = context["can_edit"] and push_voice_accounts().exists()
    context["push_all_query"] = urlencode({"scope": "search", **filters.params()})
    if request.htmx:
        return render(request, "contacts/contacts.html#results", context)
    context["time_zones"] = selectors.contact_time_zones()
    context["lists"] = selectors.contact_lists()
    context["imports"] = selectors.finished_imports()
    return render(request, "contacts/contacts.html", context)


@requires(Capability.VIEW_CONTACTS)
@require_http_methods(["GET", "POST"])
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A contact, its calls and lists; editors add it to a list here (POST)."""
    contact = _get_contact(pk)
    list_form = ContactListForm(request.POST or None)
    if request.method == "POST":
        _require_edit(request)
        if list_form.is_valid():
            try:
                added = services.contact_list_add(
                    contact=contact, name=list_form.cleaned_data["name"], created_by=request.user
                )
            except services.ListNameError as exc:
                list_form.add_error("name", str(exc))
            else:
                messages.success(request, f"Added to the list {added.name}.")
                return redirect("contacts:detail", pk=contact.pk)
    context = {
        "contact": contact,
        "calls": selectors.contact_recent_calls(contact=contact),
        "callbacks": selectors.contact_callbacks(contact=contact),
        "dnc_entry": selectors.do_not_call_entry(contact.phone_e164),
        "can_edit": has_capability(request.user, Capability.EDIT_CONTACTS),
        "can_remove_dnc": has_capability(request.user, Capability.MANAGE_SETTINGS),
        "contact_lists": selectors.contact_lists_of(contact=contact),
        "all_lists": selectors.contact_lists(),
        "list_form": list_form,
        "consents": consent.consent_list(contact=contact),
        "now": timezone.now(),
    }
    return render(request, "contacts/contact_detail.html", context, status=_status(list_form))


@requires(Capability.EDIT_CONTACTS)
@require_POST
def contact_list_remove(request: HttpRequest, pk: int, list_pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    try:
        contact_list = selectors.contact_list_get(pk=list_pk)
    except ContactList.DoesNotExist:
        raise Http404("No such list.") from None
    services.contact_list_remove(contact=contact, contact_list=contact_list)
    messages.success(request, f"Removed from the list {contact_list.name}.")
    return redirect("contacts:detail", pk=contact.pk)


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        contact = services.contact_create(**form.contact_values())
        messages.success(request, f"Contact {contact} created.")
        return redirect("contacts:detail", pk=contact.pk)
    return render(
        request, "contacts/contact_form.html", {"form": form, "contact": None}, status=_status(form)
    )


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        services.contact_update(contact=contact, **form.contact_values())
        messages.success(request, f"Contact {contact} saved.")
        return redirect("contacts:detail", pk=contact.pk)
    return render(
        request,
        "contacts/contact_form.html",
        {"form": form, "contact": contact},
        status=_status(form),
    )


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    if request.method == "POST":
        label = str(contact)
        services.contact_delete(contact=contact)
        messages.success(request, f"Contact {label} deleted.")
        return redirect("contacts:list")
    return render(
        request,
        "contacts/confirm_delete.html",
        {
            "title": f"Delete {contact}?",
            "explanation": "The contact is deleted. Its calls stay in the call log, "
            "without the link to the contact.",
            "action": reverse("contacts:delete", kwargs={"pk": contact.pk}),
            "cancel": reverse("contacts:detail", kwargs={"pk": contact.pk}),
            "button": "Delete contact",
        },
    )


# --- Do-not-call list ---------------------------------------------------------------------------


def _audit_dnc(action: AuditAction, request: HttpRequest, entry: DoNotCallEntry) -> None:
    audit_record(
        action=action, request=request, target=entry.phone_e164, detail={"reason": entry.reason}
    )


@requires(Capability.VIEW_CONTACTS)
@require_http_methods(["GET", "POST"])
def do_not_call(request: HttpRequest) -> HttpResponse:
    """The list (anyone who sees contacts) and the form that adds to it (editors)."""
    form = DoNotCallForm(request.POST or None)
    if request.method == "POST":
        _require_edit(request)
        if form.is_valid():
            with transaction.atomic():
                entry, created = services.do_not_call_add(
                    phone_e164=form.cleaned_data["phone"],
                    reason=form.cleaned_data["reason"],
                    added_by=request.user,
                )
                if created:
                    _audit_dnc(AuditAction.DNC_ADDED, request, entry)
            if created:
                messages.success(request, f"{entry.phone_e164} will not be called.")
            else:
                messages.info(request, f"{entry.phone_e164} was already on the list.")
            return redirect(_safe_next(request, reverse("contacts:dnc")))
    search = request.GET.get("q", "").strip()
    page = Paginator(selectors.do_not_call_list(search=search), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "search": search,
        "form": form,
        "can_edit": has_capability(request.user, Capability.EDIT_CONTACTS),
        "can_remove": has_capability(request.user, Capability.MANAGE_SETTINGS),
    }
    if request.htmx and request.method == "GET":
        return render(request, "contacts/do_not_call.html#entries", context)
    return render(request, "contacts/do_not_call.html", context)


@requires(Capability.MANAGE_SETTINGS)
@require_http_methods(["GET", "POST"])
def do_not_call_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Taking a number off the list: an opt-out is a legal record, so only an admin may, with a
    reason, and both are audited."""
    try:
        entry = DoNotCallEntry.objects.get(pk=pk)
    except DoNotCallEntry.DoesNotExist:
        raise Http404("No such entry.") from None
    form = DoNotCallRemoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.do_not_call_remove(
            entry=entry, reason=form.cleaned_data["reason"], request=request
        )
        messages.success(request, f"{entry.phone_e164} may be called again.")
        return redirect(_safe_next(request, reverse("contacts:dnc")))
    context = {
        "entry": entry,
        "form": form,
        "cancel": _safe_next(request, reverse("contacts:dnc")),
        "next": _safe_next(request, ""),
    }
    return render(request, "contacts/dnc_remove.html", context, status=_status(form))


# --- CSV import ---------------------------------------------------------------------------------


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def contact_import(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            created = services.contact_import_create(
                file=upload, file_name=upload.name, size=upload.size, created_by=request.user
            )
        except CsvFileError as exc:
            error = str(exc)
        else:
            return redirect("contacts:import_detail", pk=created.pk)
    context = {
        "form": form,
        "error": error,
        "imports": selectors.contact_import_list(),
        "max_mb": services.max_import_bytes() // (1024 * 1024),
        "max_columns": services.max_import_columns(),
    }
    return render(request, "contacts/import.html", context, status=400 if error else 200)


# The page lists this many rejected rows; all of them are in the CSV download.
REJECTIONS_SHOWN = 50


def _first_rejections(contact_import: ContactImport) -> list[Any]:
    if contact_import.status != ImportStatus.DONE or not contact_import.rejected_count:
        return []
    rows = selectors.contact_import_rejections(contact_import=contact_import)
    return list(rows[:REJECTIONS_SHOWN])


@requires(Capability.EDIT_CONTACTS)
@require_http_methods(["GET", "POST"])
def contact_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One import: column mapping with a preview, then its progress, then its result."""
    # Its headers and mapping are read only for a file within the column limit.
    contact_import = _get_import(pk, columns=False)
    rejections = _first_rejections(contact_import)
    if request.htmx and request.method == "GET":
        response = render(
            request,
            "contacts/import_detail.html#status",
            {"imp": contact_import, "rejections": rejections},
        )
        if contact_import.is_finished or contact_import.status == ImportStatus.UPLOADED:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    if contact_import.status != ImportStatus.UPLOADED:
        if request.method == "POST":
            return redirect("contacts:import_detail", pk=contact_import.pk)
        context = {"imp": contact_import, "fields": FIELDS, "rejections": rejections}
        return render(request, "contacts/import_detail.html", context)
    return _mapping_page(request, contact_import)


def _mapping_page(request: HttpRequest, contact_import: ContactImport) -> HttpResponse:
    """The column mapping form and a preview; for a file stored before the column limit with
    more columns than it allows, the first columns, the preview and why it cannot go on."""
    max_columns = services.max_import_columns()
    head = selectors.contact_import_file(pk=contact_import.pk, head=MAX_HEADER_BYTES)
    preview_head = head[:PREVIEW_BYTES]
    rows = preview(
        preview_head,
        contact_import.delimiter,
        whole_file=contact_import.file_size <= len(preview_head),
    )
    context: dict[str, Any] = {
        "imp": contact_import,
        "fields": FIELDS,
        "preview": [row[:max_columns] for row in rows],
        "form": None,
        "error": "",
    }
    header = None
    try:
        header = read_header(head, delimiter=contact_import.delimiter)
        check_header(header, max_columns=max_columns)
    except TooManyColumns as exc:
        context["refusal"] = str(exc)
        context["columns"] = header.headers[:max_columns] if header else []
        return render(
            request,
            "contacts/import_detail.html",
            context,
            status=400 if request.method == "POST" else 200,
        )
    form = ImportMappingForm(
        request.POST or None, headers=contact_import.headers, mapping=contact_import.mapping
    )
    context["form"] = form
    context["lists"] = selectors.contact_lists()
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_import_start(
                contact_import=contact_import,
                mapping=form.mapping(),
                duplicates=form.cleaned_data["duplicates"],
                list_name=form.cleaned_data["list_name"],
                created_by=request.user,
            )
        except CsvFileError as exc:
            context["error"] = str(exc)
        else:
            return redirect("contacts:import_detail", pk=contact_import.pk)
    status = 400 if context["error"] else 200
    return render(request, "contacts/import_detail.html", context, status=status)


@requires(Capability.EDIT_CONTACTS)
def contact_import_rejected(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The rejected rows as CSV: line, reason, then the row as it was in the file."""
    contact_import = _get_import(pk)
    writer = csv.writer(EchoBuffer())
    rejections = selectors.contact_import_rejections(contact_import=contact_import)

    def rows():
        yield writer.writerow(["line", "reason", *map(inert_cell, contact_import.headers)])
        for rejection in rejections.iterator(chunk_size=2000):
            yield writer.writerow(
                [rejection.line_number, rejection.reason, *map(inert_cell, rejection.raw)]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="import-{contact_import.pk}-rejected.csv"'
    )
    return response


def _change_text(value: Any) -> str:
    # Metadata is an object: shown as the JSON it is stored as.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@requires(Capability.EDIT_CONTACTS)
def contact_import_updates(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The stored contacts an import changed, as CSV: a row per changed field, old → new."""
    contact_import = _get_import(pk, columns=False)
    writer = csv.writer(EchoBuffer())
    updates = selectors.contact_import_updates(contact_import=contact_import)

    def rows():
        yield writer.writerow(["phone", "field", "old value", "new value"])
        for update in updates.iterator(chunk_size=2000):
            for field in CHANGED_FIELDS:
                if field in update.changes:
                    old, new = update.changes[field]
                    yield writer.writerow(
                        [
                            inert_cell(update.phone_e164),
                            field,
                            inert_cell(_change_text(old)),
                            inert_cell(_change_text(new)),
                        ]
                    )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="import-{contact_import.pk}-updated.csv"'
    )
    return response
