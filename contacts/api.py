"""REST API of contacts: CSV import, through the same services as the pages."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import (
    ERROR_SCHEMA,
    PAGINATION_PARAMETERS,
    KeysetPagination,
    OptionalBoolean,
    ReadModelSerializer,
    api_requires,
    error_doc,
    error_response,
    paginate,
    paginated,
    query_filters,
)
from accounts.converters import MAX_ID
from accounts.json_input import (
    CheckedFormParser,
    CheckedMultiPartParser,
    JsonInputError,
    parse_json_text,
)
from accounts.roles import Capability, denied_reason, has_capability
from contacts import selectors, services
from contacts.csv_import import FIELDS, CsvFileError, mapping_from_headers
from contacts.models import Contact, ContactImport, ContactList, DuplicatePolicy, ImportStatus
from contacts.phones import PhoneError, PhoneResult, normalize_phone


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file, UTF-8, with a header row.")
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='JSON object {"column header": "field"}; fields: '
        + ", ".join(name for name in FIELDS if name)
        + ". Without it the columns are guessed from their headers.",
    )
    duplicates = serializers.ChoiceField(
        choices=[*DuplicatePolicy.choices, ("merge", "Older name of fill")],
        default=DuplicatePolicy.FILL,
        help_text="For a number already stored: fill (only its empty fields; the default), "
        "overwrite (the file's non-empty values win) or skip. merge, its older name, is fill.",
    )

    list = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="A list (tag) every contact of the file joins, created when new; the file "
        "itself is remembered either way (`contacts?import=ID`).",
    )

    def validate_duplicates(self, value: str) -> str:
        return DuplicatePolicy.FILL if value == "merge" else value

    def validate_mapping(self, value: str) -> dict[str, str] | None:
        if not value:
            return None
        try:
            assignments = parse_json_text(value, path=("mapping",), depth=2)
        except JsonInputError:
            assignments = None
        if not isinstance(assignments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in assignments.items()
        ):
            raise serializers.ValidationError(
                'Give a JSON object {"column header": "field"}.'
            ) from None
        return assignments


class ImportStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    file_name = serializers.CharField()
    duplicates = serializers.ChoiceField(choices=DuplicatePolicy.choices)
    list = serializers.CharField(source="contact_list.name", default=None, allow_null=True)
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    created = serializers.IntegerField(source="created_count")
    updated = serializers.IntegerField(source="updated_count")
    unchanged = serializers.IntegerField(
        source="unchanged_count",
        help_text="Stored contacts whose values the file left as they were.",
    )
    repeated = serializers.IntegerField(
        source="repeated_count", help_text="Rows whose number an earlier row of the file gave."
    )
    blank_rows = serializers.IntegerField(source="blank_row_count")
    rejected = serializers.IntegerField(source="rejected_count")
    error = serializers.CharField(source="error_message")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.SerializerMethodField()

    def get_status_url(self, contact_import: ContactImport) -> str:
        request = self.context["request"]
        return request.build_absolute_uri(
            reverse("contacts_api:import_status", kwargs={"pk": contact_import.pk})
        )


def _body(contact_import: ContactImport, request: Request) -> dict[str, Any]:
    return ImportStatusSerializer(contact_import, context={"request": request}).data


@extend_schema(
    request={"multipart/form-data": ImportRequestSerializer},
    responses={
        202: ImportStatusSerializer,
        400: OpenApiResponse(ERROR_SCHEMA, description="The file or the mapping is not usable."),
    },
)
@api_requires(Capability.EDIT_CONTACTS)
@api_view(["POST"])
@parser_classes([CheckedMultiPartParser, CheckedFormParser])
def import_contacts(request: Request) -> Response:
    """Upload a contacts CSV; it is imported in the background (poll `status_url`)."""
    payload = ImportRequestSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    upload = payload.validated_data["file"]
    assignments = payload.validated_data.get("mapping")
    try:
        created = services.contact_import_create(
            file=upload, file_name=upload.name, size=upload.size, created_by=request.user
        )
    except CsvFileError as exc:
        return error_response("invalid_file", str(exc))
    try:
        mapping = (
            mapping_from_headers(assignments, created.headers) if assignments else created.mapping
        )
        services.contact_import_start(
            contact_import=created,
            mapping=mapping,
            duplicates=payload.validated_data["duplicates"],
            list_name=payload.validated_data.get("list", ""),
            created_by=request.user,
        )
    except CsvFileError as exc:
        created.delete()  # an upload that cannot start is not kept
        return error_response("invalid_mapping", str(exc))
    started = selectors.contact_import_get(pk=created.pk)
    return Response(_body(started, request), status=status.HTTP_202_ACCEPTED)


@extend_schema(responses={200: ImportStatusSerializer})
@api_requires(Capability.EDIT_CONTACTS)
@api_view(["GET"])
def import_status(request: Request, pk: int) -> Response:
    """An import's status and counts."""
    try:
        contact_import = selectors.contact_import_get(pk=pk)
    except ContactImport.DoesNotExist:
        raise NotFound("No such import.") from None
    return Response(_body(contact_import, request))


# --- Contacts ----------------------------------------------------------------------------------


class ContactSerializer(ReadModelSerializer):
    on_do_not_call = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "phone_e164",
            "email",
            "linkedin_url",
            "time_zone",
            "metadata",
            "on_do_not_call",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_on_do_not_call(self, contact: Contact) -> bool:
        return bool(getattr(contact, "on_dnc", False))


class ContactCreateSerializer(serializers.Serializer):
    phone = serializers.CharField(
        max_length=40,
        help_text="Any usual form; read in CALLOPS_DEFAULT_REGION without a leading +.",
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    linkedin_url = serializers.URLField(required=False, allow_blank=True, default="")
    time_zone = serializers.CharField(
        required=False, allow_blank=True, max_length=64, default="",
        help_text="IANA name; derived from the number when empty.",
    )  # fmt: skip
    metadata = serializers.DictField(required=False, default=dict)

    def validate_phone(self, value: str) -> PhoneResult:
        try:
            return normalize_phone(value)
        except PhoneError as exc:
            raise serializers.ValidationError(
                f"This number cannot be used: {exc.reason}."
            ) from None


class ContactFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, trim_whitespace=False, max_length=200, help_text="Name, number or email."
    )
    on_do_not_call = OptionalBoolean(required=False)
    list = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only contacts in this list."
    )
    # "import" is a Python keyword: the parameter keeps its plain name through source.
    import_ = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only contacts in the file of this import.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["import"] = fields.pop("import_")
        return fields


class ContactPagination(KeysetPagination):
    ordering = ("-created_at", "-id")


@extend_schema(
    methods=["GET"],
    operation_id="contacts_list",
    parameters=[ContactFilterSerializer, *PAGINATION_PARAMETERS],
    responses=paginated(ContactSerializer),
)
@extend_schema(
    methods=["POST"],
    operation_id="contacts_create",
    request=ContactCreateSerializer,
    responses={
        201: ContactSerializer,
        409: error_doc("A contact with this number exists already."),
    },
)
@api_requires(Capability.VIEW_CONTACTS)
@api_view(["GET", "POST"])
def contacts(request: Request) -> Response:
    if request.method == "GET":
        filters = query_filters(request, ContactFilterSerializer)
        queryset = selectors.contact_list(
            search=filters.get("q", "").strip(),
            on_do_not_call=filters.get("on_do_not_call"),
            list_id=filters.get("list"),
            import_id=filters.get("import"),
        )
        return paginate(request, queryset, ContactSerializer, pagination_class=ContactPagination)
    if not has_capability(request.user, Capability.EDIT_CONTACTS):
        raise PermissionDenied(denied_reason(Capability.EDIT_CONTACTS))
    body = ContactCreateSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    phone: PhoneResult = data["phone"]
    if Contact.objects.filter(phone_e164=phone.e164).exists():
        return error_response(
            "conflict", f"A contact with {phone.e164} exists already.", status=409
        )
    contact = services.contact_create(
        phone_e164=phone.e164,
        name=data["name"],
        email=data["email"],
        linkedin_url=data["linkedin_url"],
        time_zone=data["time_zone"] or phone.time_zone,
        metadata=data["metadata"],
    )
    return Response(ContactSerializer(contact).data, status=201)


# --- Lists --------------------------------------------------------------------------------------


class ContactListSerializer(ReadModelSerializer):
    contacts = serializers.IntegerField(source="member_count", help_text="Contacts in the list.")

    class Meta:
        model = ContactList
        fields = ["id", "name", "contacts", "created_at"]
        read_only_fields = fields


class ListPagination(KeysetPagination):
    ordering = ("name", "id")


@extend_schema(
    operation_id="contact_lists",
    parameters=PAGINATION_PARAMETERS,
    responses=paginated(ContactListSerializer),
)
@api_requires(Capability.VIEW_CONTACTS)
@api_view(["GET"])
def contact_lists(request: Request) -> Response:
    """The lists (tags) contacts are in: a campaign's `audience_list`, a contacts filter."""
    return paginate(
        request,
        selectors.contact_lists_with_counts(),
        ContactListSerializer,
        pagination_class=ListPagination,
    )
