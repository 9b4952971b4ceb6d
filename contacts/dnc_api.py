"""REST API of the do-not-call list (the opt-out ledger), through the same services as the
pages: anyone who sees contacts reads it, editors add to it, only admins remove, with a reason."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import (
    PAGINATION_PARAMETERS,
    KeysetPagination,
    ReadModelSerializer,
    api_requires,
    paginate,
    paginated,
    query_filters,
)
from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import Capability, denied_reason, has_capability
from contacts import selectors, services
from contacts.models import DoNotCallEntry, OptOutSource
from contacts.phones import PhoneError, normalize_phone


class DoNotCallSerializer(ReadModelSerializer):
    added_by = serializers.CharField(source="added_by.get_username", default=None, allow_null=True)

    class Meta:
        model = DoNotCallEntry
        fields = [
            "id",
            "phone_e164",
            "reason",
            "source",
            "call_id",
            "evidence",
            "added_by",
            "created_at",
        ]
        read_only_fields = fields


class DoNotCallAddSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=40, help_text="Any usual form of the number.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate_phone(self, value: str) -> str:
        try:
            return normalize_phone(value).e164
        except PhoneError as exc:
            raise serializers.ValidationError(
                f"This number cannot be used: {exc.reason}."
            ) from None


class DoNotCallFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, max_length=200, help_text="Part of the number, or of the reason."
    )


class DoNotCallRemoveSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=200, help_text="Why the number may be called again (kept in the audit log)."
    )


@extend_schema(
    methods=["GET"],
    operation_id="do_not_call_list",
    parameters=[DoNotCallFilterSerializer, *PAGINATION_PARAMETERS],
    responses=paginated(DoNotCallSerializer),
)
@extend_schema(
    methods=["POST"],
    operation_id="do_not_call_add",
    request=DoNotCallAddSerializer,
    responses={201: DoNotCallSerializer, 200: DoNotCallSerializer},
)
@api_requires(Capability.VIEW_CONTACTS)
@api_view(["GET", "POST"])
def do_not_call(request: Request) -> Response:
    """The opt-out ledger; POST lists a number (200 with the entry on record if it was
    listed already: the first opt-out stays the one on record)."""
    if request.method == "GET":
        filters = query_filters(request, DoNotCallFilterSerializer)
        entries = selectors.do_not_call_list(search=filters.get("q", "").strip())
        return paginate(request, entries, DoNotCallSerializer, pagination_class=KeysetPagination)
    if not has_capability(request.user, Capability.EDIT_CONTACTS):
        raise PermissionDenied(denied_reason(Capability.EDIT_CONTACTS))
    body = DoNotCallAddSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    with transaction.atomic():
        entry, created = services.do_not_call_add(
            phone_e164=body.validated_data["phone"],
            reason=body.validated_data["reason"],
            added_by=request.user,
            source=OptOutSource.API,
        )
        if created:
            audit_record(
                action=AuditAction.DNC_ADDED,
                request=request,
                target=entry.phone_e164,
                detail={"reason": entry.reason, "source": entry.source},
            )
    return Response(DoNotCallSerializer(entry).data, status=201 if created else 200)


@extend_schema(
    operation_id="do_not_call_remove",
    request=DoNotCallRemoveSerializer,
    responses={204: None},
)
@api_requires(Capability.MANAGE_SETTINGS)
@api_view(["POST"])
def do_not_call_remove(request: Request, pk: int) -> Response:
    """Takes a number off the list (admins, with a reason; audited)."""
    body = DoNotCallRemoveSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    entry = DoNotCallEntry.objects.filter(pk=pk).first()
    if entry is None:
        raise NotFound("No such entry.")
    services.do_not_call_remove(entry=entry, reason=body.validated_data["reason"], request=request)
    return Response(status=204)
