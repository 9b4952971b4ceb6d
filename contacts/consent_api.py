"""REST API of a contact's consent records, through the same service as the contact page:
anyone who sees contacts reads them, editors (operators, admins) add and delete them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import ReadModelSerializer, api_requires
from accounts.roles import Capability, denied_reason, has_capability
from contacts import consent, selectors
from contacts.models import ConsentRecord, ConsentType, Contact


class ConsentSerializer(ReadModelSerializer):
    added_by = serializers.CharField(source="added_by.get_username", default=None, allow_null=True)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "contact",
            "consent_type",
            "given_at",
            "expires_at",
            "evidence",
            "evidence_url",
            "evidence_file",
            "call_id",
            "source",
            "added_by",
            "created_at",
        ]
        read_only_fields = fields


class ConsentAddSerializer(serializers.Serializer):
    consent_type = serializers.ChoiceField(choices=ConsentType.choices)
    given_at = serializers.DateTimeField(help_text="ISO 8601 with an offset.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    evidence = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    evidence_url = serializers.URLField(
        required=False, allow_blank=True, max_length=500, default=""
    )
    evidence_file = serializers.CharField(
        required=False, allow_blank=True, max_length=300, default=""
    )
    call_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, default=None
    )
    source = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


def _contact(pk: int) -> Contact:
    try:
        return selectors.contact_get(pk=pk)
    except Contact.DoesNotExist:
        raise NotFound("No such contact.") from None


def _require_edit(request: Request) -> None:
    if not has_capability(request.user, Capability.EDIT_CONTACTS):
        raise PermissionDenied(denied_reason(Capability.EDIT_CONTACTS))


@extend_schema(
    methods=["GET"], operation_id="contact_consents", responses=ConsentSerializer(many=True)
)
@extend_schema(
    methods=["POST"],
    operation_id="contact_consent_add",
    request=ConsentAddSerializer,
    responses={201: ConsentSerializer},
)
@api_requires(Capability.VIEW_CONTACTS)
@api_view(["GET", "POST"])
def consents(request: Request, pk: int) -> Response:
    """A contact's consent records, newest first; POST records one."""
    contact = _contact(pk)
    if request.method == "GET":
        return Response(ConsentSerializer(consent.consent_list(contact=contact), many=True).data)
    _require_edit(request)
    body = ConsentAddSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        record = consent.consent_add(
            contact=contact,
            values=consent.ConsentValues(**body.validated_data),
            added_by=request.user,
        )
    except consent.ConsentError as exc:
        raise ValidationError({exc.field or "non_field_errors": [exc.message]}) from None
    return Response(ConsentSerializer(record).data, status=201)


@extend_schema(operation_id="contact_consent_delete", request=None, responses={204: None})
@api_requires(Capability.EDIT_CONTACTS)
@api_view(["DELETE"])
def consent_delete(request: Request, pk: int, consent_pk: int) -> Response:
    record = ConsentRecord.objects.filter(pk=consent_pk, contact=_contact(pk)).first()
    if record is None:
        raise NotFound("No such consent record.")
    consent.consent_delete(record=record)
    return Response(status=204)
