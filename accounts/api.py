"""REST API foundations every app reuses, and the dashboard's own endpoints.

Reuse:

    from accounts.api import api_requires, paginate, paginated, error_response

    @extend_schema(responses=paginated(CallSerializer))
    @api_requires(Capability.VIEW_CALLS)   # above @api_view: sets permission + role-matrix rule
    @api_view(["GET"])
    def call_list(request: Request) -> Response:
        return paginate(request, Call.objects.all(), CallSerializer)

Errors: raise DRF exceptions (ValidationError, NotFound, PermissionDenied, ...) or Django's
Http404; `api_exception_handler` turns every one into `{"error": {"code", "message",
"fields"?}}`. `error_response(...)` builds the same body by hand; a status the view answers
itself beyond the usual ones (409, 202, ...) goes in `@extend_schema(responses={409:
error_doc("why")})`, so the schema lists every status the view can answer. Serializers of
answers built from a model subclass `ReadModelSerializer` (blank text stays documented).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.fields import empty
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import set_rollback

from accounts import selectors
from accounts.json_input import JsonLimits, RequestBodyTooLarge
from accounts.models import ApiToken, AuditAction, AuditEvent
from accounts.roles import (
    ROLE_CAPABILITIES,
    Capability,
    Role,
    denied_reason,
    has_capability,
    primary_role,
)

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------- permissions


class HasCapability(BasePermission):
    """Allows a request whose principal has the view's `required_capability` (fails closed)."""

    message = "Your role cannot do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        capability = getattr(view, "required_capability", None)
        if capability is None:
            return False
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not has_capability(user, capability):
            self.message = denied_reason(Capability(capability))
            return False
        return True


View = TypeVar("View", bound=Callable[..., Any])


def api_requires(capability: Capability) -> Callable[[View], View]:
    """Put above `@api_view`: the view needs `capability` (401 anonymous, 403 other roles).

    Sets `required_capability` on both the view class and the view function, so HasCapability
    and the role matrix (tests/dashboard/test_roles.py) read the same rule.
    """

    def decorator(view: View) -> View:
        view_class = getattr(view, "cls", None)
        if view_class is None:
            raise TypeError("@api_requires goes above @api_view (it needs the DRF view).")
        view_class.required_capability = capability
        view_class.permission_classes = [HasCapability]
        view.required_capability = capability  # type: ignore[attr-defined]
        return view

    return decorator


# ------------------------------------------------------------------------------------ errors

ERROR_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def error_response(
    code: str,
    message: str,
    *,
    status: int = 400,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_body(code, message, fields), status=status, headers=headers)


def _code_for(exc: exceptions.APIException) -> str:
    for exc_class in type(exc).__mro__:
        if exc_class in ERROR_CODES:
            return ERROR_CODES[exc_class]
    return str(getattr(exc, "default_code", "error"))


def _flatten(detail: Any) -> Any:
    """ErrorDetail lists and dicts as plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: one body shape for every API error, 500 included."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):  # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE)
        exc = RequestBodyTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ValidationError([str(exc)])

    if not isinstance(exc, exceptions.APIException):
        view_name = type(context.get("view")).__name__
        logger.error("Unhandled error in API view %s", view_name, exc_info=exc)
        set_rollback()
        return error_response("server_error", "Something went wrong on our side.", status=500)

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"  # type: ignore[attr-defined]

    detail = _flatten(exc.detail)
    fields = None
    if isinstance(detail, dict):
        non_field = detail.pop("non_field_errors", None)
        fields = detail or None
        message = " ".join(non_field) if non_field else "The request is not valid."
    elif isinstance(detail, list):
        message = " ".join(str(item) for item in detail) or "The request is not valid."
    else:
        message = detail
    set_rollback()
    return error_response(
        _code_for(exc), message, status=exc.status_code, fields=fields, headers=headers
    )


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "example": "permission_denied"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Messages per request field (validation errors only).",
                    "additionalProperties": {},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}


def error_doc(description: str) -> OpenApiResponse:
    """A documented error answer (the shared error body), for `@extend_schema(responses=...)`
    of a status the view answers itself, such as 409 (the hook below adds the usual ones)."""
    return OpenApiResponse({"$ref": "#/components/schemas/Error"}, description=description)


# ------------------------------------------------------------------------------- serializers


# A ModelSerializer for answers, whose schema says when a text field may come back empty. DRF
# drops `allow_blank` from read-only fields, so a `blank=True` model field with choices or a
# format (an outcome not known yet, a contact without an email) would be documented as never ""
# although it often is. Read-only fields keep it here. (A comment, not a docstring: the schema
# would show a docstring as the description of every serializer built on this one.)
class ReadModelSerializer(serializers.ModelSerializer):
    def include_extra_kwargs(
        self, kwargs: dict[str, Any], extra_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        allow_blank = kwargs.get("allow_blank", False)
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if allow_blank:
            kwargs["allow_blank"] = True
        return kwargs


# -------------------------------------------------------------------------------- pagination


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages, newest first: `?cursor=` from `next`/`previous`, `?limit=` ≤ 100.

    Subclass and set `ordering` for a model whose creation time has another name.
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        # Stricter than DRF, which silently falls back to the default on a bad `limit`.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {"limit": [f"Give a whole number from 1 to {self.max_page_size}."]}
            )
        return size


_paginated_serializers: dict[type[serializers.Serializer], type[serializers.Serializer]] = {}


def paginated(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page envelope around `serializer_class`, for `@extend_schema(responses=...)`."""
    if serializer_class not in _paginated_serializers:
        name = serializer_class.__name__.removesuffix("Serializer")
        _paginated_serializers[serializer_class] = type(
            f"Paginated{name}ListSerializer",
            (serializers.Serializer,),
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _paginated_serializers[serializer_class]


class OptionalBoolean(serializers.BooleanField):
    """A yes/no filter that is off when absent (DRF reads an absent form boolean as False)."""

    default_empty_html = empty


class PaginationQuerySerializer(serializers.Serializer):
    # Not trimmed: a cursor is opaque, and one of only spaces is an invalid cursor (404), not a
    # blank one the schema did not forbid.
    cursor = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="The `next` or `previous` cursor of a page.",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=100, help_text="Items per page (default 50)."
    )


# For @extend_schema(parameters=[...]) of a view that calls paginate().
PAGINATION_PARAMETERS = [PaginationQuerySerializer]


def paginate(
    request: Request,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.Serializer],
    *,
    pagination_class: type[CursorPagination] = KeysetPagination,
) -> Response:
    query_filters(request, PaginationQuerySerializer)  # 400 on an empty or bad cursor/limit
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request)
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)


# ----------------------------------------------------------------------------------- filters


def query_filters(
    request: Request, serializer_class: type[serializers.Serializer]
) -> dict[str, Any]:
    """The validated query parameters of `serializer_class`'s fields (400 on a bad one).

    Stricter than DRF on one point: a parameter sent empty (`?since=`) is an error, not absent.
    """
    blank = {
        name: ["This parameter may not be empty."]
        for name in serializer_class().fields
        if name in request.query_params and request.query_params.get(name) == ""
    }
    if blank:
        raise exceptions.ValidationError(blank)
    filters = serializer_class(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return dict(filters.validated_data)


# ------------------------------------------------------------------------------------ schema


class SchemaView(SpectacularJSONAPIView):
    """/api/schema/: the OpenAPI 3 document, for any signed-in role or token."""

    permission_classes = [HasCapability]
    required_capability = Capability.VIEW_OVERVIEW


ERROR_STATUSES = {
    "400": "The request is not valid.",
    "401": "No valid credentials (session or API token).",
    "403": "The principal's role may not do this.",
    "404": "Not found.",
    "429": "Too many requests for this token; see Retry-After.",
}


# DRF refuses NUL characters in every text field; the schema says so instead of promising more.
NO_NUL_PATTERN = "^[^\\x00]*$"


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents the shared error body,
    and its free-text query parameters say that NUL characters are refused."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    limits = JsonLimits.from_settings()
    info = result.setdefault("info", {})
    info["description"] = f"{info.get('description', '')}\n\n{limits.describe()}".strip()
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and not ({"format", "enum"} & set(schema)):
                    schema.setdefault("pattern", NO_NUL_PATTERN)
            responses = operation.setdefault("responses", {})
            statuses = dict(ERROR_STATUSES)
            if "requestBody" in operation:
                # DRF answers a body in a content type the endpoint does not parse with 415.
                statuses["415"] = "The body's content type is not one this endpoint reads."
                statuses["413"] = f"The body is larger than {limits.max_body_bytes:,} bytes."
            for status, description in statuses.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result


# ------------------------------------------------------------------------------- endpoints


class MeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["user", "token"])
    name = serializers.CharField(help_text="The username, or the token's name.")
    username = serializers.CharField(help_text="The user, or the user who created the token.")
    role = serializers.ChoiceField(choices=[role.value for role in Role], allow_null=True)
    capabilities = serializers.ListField(
        child=serializers.ChoiceField(choices=[c.value for c in Capability])
    )
    token_prefix = serializers.CharField(allow_null=True)
    token_expires_at = serializers.DateTimeField(allow_null=True)


@extend_schema(responses=MeSerializer, operation_id="me")
@api_requires(Capability.VIEW_OVERVIEW)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who is asking: the signed-in user or the API token, its role and capabilities."""
    role = primary_role(request.user)
    token = request.auth if isinstance(request.auth, ApiToken) else None
    capabilities = sorted(ROLE_CAPABILITIES[role]) if role else []
    body = {
        "kind": "token" if token else "user",
        "name": token.name if token else request.user.get_username(),
        "username": token.created_by.username if token else request.user.get_username(),
        "role": role.value if role else None,
        "capabilities": [capability.value for capability in capabilities],
        "token_prefix": token.prefix if token else None,
        "token_expires_at": token.expires_at if token else None,
    }
    return Response(MeSerializer(body).data)


class AuditEventSerializer(ReadModelSerializer):
    actor = serializers.CharField(source="actor_label")
    detail = serializers.DictField()

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "target", "detail", "ip_address"]


class AuditEventPagination(KeysetPagination):
    ordering = ("-at", "-id")


class AuditEventFilterSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditAction.choices, required=False)
    actor = serializers.CharField(required=False, trim_whitespace=False, max_length=150)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


@extend_schema(
    parameters=[AuditEventFilterSerializer, *PAGINATION_PARAMETERS],
    responses=paginated(AuditEventSerializer),
    operation_id="audit_events_list",
)
@api_requires(Capability.MANAGE_SETTINGS)
@api_view(["GET"])
def audit_events(request: Request) -> Response:
    """The audit log, newest first. Filters: action, actor (part of the name), since, until."""
    queryset = selectors.audit_event_list(**query_filters(request, AuditEventFilterSerializer))
    return paginate(request, queryset, AuditEventSerializer, pagination_class=AuditEventPagination)
