"""REST API for calls: the same services and selectors as the pages, over JSON.

POST /api/v1/calls/ honours an `Idempotency-Key` header: the same user sending the same key
gets the call it already made (200) instead of a second call (201).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import (
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
from accounts.audit import audit_record
from accounts.converters import MAX_ID
from accounts.models import AuditAction
from accounts.roles import Capability, denied_reason, has_capability
from calls.fallback import FallbackRejected, calling_route, check_fallback
from calls.forms import MAX_SECONDS
from calls.models import (
    Agent,
    Call,
    CallConversation,
    CallOutcome,
    CallState,
    CommonOutcome,
    PostCallAction,
    PostCallStep,
    WebhookEvent,
    WebhookStatus,
)
from calls.selectors import (
    CallFilters,
    call_get,
    call_list,
    call_post_call_steps,
    webhook_inbox,
)
from calls.services import CallRejected, call_create
from calls.webhooks import webhook_replay
from contacts.models import Contact
from vendors.models import VendorAccount


class CallSerializer(ReadModelSerializer):
    recording = serializers.SerializerMethodField(
        help_text="callops' own streaming URL for the recording (null until there is one)."
    )

    class Meta:
        model = Call
        fields = [
            "id",
            "state",
            "common_outcome",
            "outcome",
            "vendor_outcome",
            "vendor_status",
            "error_message",
            "is_stale",
            "vendor_account",
            "agent",
            "contact",
            "campaign",
            "to_number",
            "from_number",
            "vendor_call_id",
            "variables",
            "metadata",
            "summary",
            "transcript",
            "extracted_variables",
            "recording",
            "duration_seconds",
            "created_at",
            "started_at",
            "ended_at",
        ]
        read_only_fields = fields

    def get_recording(self, call: Call) -> str | None:
        if not call.recording_url:
            return None
        path = reverse("calls:recording", kwargs={"pk": call.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class PostCallStepSerializer(ReadModelSerializer):
    rule = serializers.CharField(source="rule_name", help_text="The rule's name when it ran.")
    label = serializers.CharField(help_text='What the step does, e.g. "Follow-up by Email".')
    results = serializers.SerializerMethodField(
        help_text="An analysis's results as the analysing vendor returned them (else null)."
    )

    class Meta:
        model = PostCallStep
        fields = [
            "id",
            "rule",
            "action",
            "label",
            "status",
            "attempts",
            "vendor_ref",
            "vendor_status",
            "error",
            "results",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_results(self, step: PostCallStep) -> dict[str, Any] | None:
        results = step.result.get("results") if step.action == PostCallAction.ANALYSE else None
        return results if isinstance(results, dict) else None


class CallConversationSerializer(ReadModelSerializer):
    """Conversation metrics as stored: seconds, counts, shares 0–1; null when the transcript
    has no per-line timestamps (`timed` false) and the metric needs them."""

    class Meta:
        model = CallConversation
        exclude = ["call"]
        read_only_fields = [f.name for f in CallConversation._meta.fields if f.name != "call"]


class CallDetailSerializer(CallSerializer):
    post_call_steps = serializers.SerializerMethodField(
        help_text="What the post-call rules did after the call: analysis, write-back, follow-ups."
    )
    conversation = serializers.SerializerMethodField(
        help_text="Conversation metrics measured from the transcript (null until measured)."
    )

    class Meta(CallSerializer.Meta):
        fields = [*CallSerializer.Meta.fields, "post_call_steps", "conversation"]
        read_only_fields = fields

    @extend_schema_field(CallConversationSerializer(allow_null=True))
    def get_conversation(self, call: Call) -> dict[str, Any] | None:
        conversation = CallConversation.objects.filter(call_id=call.pk).first()
        return CallConversationSerializer(conversation).data if conversation else None

    @extend_schema_field(PostCallStepSerializer(many=True))
    def get_post_call_steps(self, call: Call) -> list[dict[str, Any]]:
        return PostCallStepSerializer(call_post_call_steps(call=call), many=True).data


class CallCreateSerializer(serializers.Serializer):
    vendor_account = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    agent = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    to_number = serializers.CharField(required=False, allow_blank=False, max_length=40)
    contact = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    variables = serializers.DictField(required=False, default=dict)
    metadata = serializers.DictField(required=False, default=dict)
    fallback_agent = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="An agent of another vendor account: the call goes through it instead while "
        "the chosen account's vendor is not answering (its circuit breaker is open).",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        # Read what was sent, not what survived parsing: a form field sent empty (to_number=)
        # parses as absent, and a number beside a contact is ambiguous whatever its value.
        sent = {name for name in ("to_number", "contact") if name in self.initial_data}
        if len(sent) != 1:
            raise serializers.ValidationError("Give either to_number or contact, not both.")
        return data


class CallFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, trim_whitespace=False, max_length=200, help_text="Search text."
    )
    state = serializers.ChoiceField(required=False, choices=CallState.choices)
    common_outcome = serializers.ChoiceField(
        required=False,
        choices=CommonOutcome.choices,
        help_text="The outcome in the one language of every vendor (see /calls/outcomes/).",
    )
    outcome = serializers.ChoiceField(
        required=False, choices=CallOutcome.choices, help_text="The older normalized outcome."
    )
    reason = serializers.CharField(
        required=False, trim_whitespace=False, max_length=64, help_text="Vendor reason."
    )
    account = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    agent = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    campaign = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
    min_duration = serializers.IntegerField(required=False, min_value=0, max_value=MAX_SECONDS)
    max_duration = serializers.IntegerField(required=False, min_value=0, max_value=MAX_SECONDS)
    recording = OptionalBoolean(required=False)
    stale = OptionalBoolean(required=False)

    def to_filters(self) -> CallFilters:
        data = self.validated_data
        return CallFilters(
            search=(data.get("q") or "").strip(),
            state=data.get("state", ""),
            common_outcomes=(data["common_outcome"],) if data.get("common_outcome") else (),
            outcome=data.get("outcome", ""),
            vendor_outcome=data.get("reason", ""),
            vendor_account_id=data.get("account"),
            agent_id=data.get("agent"),
            campaign_id=data.get("campaign"),
            created_from=data.get("since"),
            created_to=data.get("until"),
            min_duration=data.get("min_duration"),
            max_duration=data.get("max_duration"),
            has_recording=data.get("recording"),
            is_stale=data.get("stale"),
        )


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Send the same key again to get the same call back instead of a second call.",
)


@extend_schema(
    methods=["GET"],
    operation_id="calls_list",
    parameters=[CallFilterSerializer, *PAGINATION_PARAMETERS],
    responses=paginated(CallSerializer),
)
@extend_schema(
    methods=["POST"],
    operation_id="calls_create",
    description=(
        "Place a call to a contact or a number. Refused with 400 when the number is on the "
        "do-not-call list or the calling policy forbids it now (outside the recipient's calling "
        "hours, or a frequency cap reached); the message names the rule, e.g. "
        '"Outside calling hours for Florida: 8:00–20:00 local."'
    ),
    parameters=[IDEMPOTENCY_KEY],
    request=CallCreateSerializer,
    responses={200: CallSerializer, 201: CallSerializer},
)
@api_requires(Capability.VIEW_CALLS)
@api_view(["GET", "POST"])
def calls(request: Request) -> Response:
    if request.method == "POST":
        return _create(request)
    query_filters(request, CallFilterSerializer)
    filters = CallFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return paginate(request, call_list(filters=filters.to_filters()), CallSerializer)


def _create(request: Request) -> Response:
    if not has_capability(request.user, Capability.TRIGGER_CALLS):
        raise PermissionDenied(denied_reason(Capability.TRIGGER_CALLS))
    body = CallCreateSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    account = VendorAccount.objects.filter(pk=data["vendor_account"]).first()
    agent = Agent.objects.filter(pk=data["agent"]).first()
    contact = Contact.objects.filter(pk=data["contact"]).first() if data.get("contact") else None
    missing = {
        name: ["No such object."]
        for name, found in (("vendor_account", account), ("agent", agent))
        if found is None
    }
    if data.get("contact") and contact is None:
        missing["contact"] = ["No such object."]
    fallback = None
    if data.get("fallback_agent"):
        fallback = Agent.objects.filter(pk=data["fallback_agent"]).first()
        if fallback is None:
            missing["fallback_agent"] = ["No such object."]
    if missing:
        raise ValidationError(missing)
    try:
        check_fallback(account, fallback)
    except FallbackRejected as exc:
        raise ValidationError({"fallback_agent": [str(exc)]}) from None
    route = calling_route(account, agent, fallback)
    try:
        call, created = call_create(
            vendor_account=route.vendor_account,
            agent=route.agent,
            to_number=data.get("to_number", ""),
            contact=contact,
            variables=data["variables"],
            metadata=route.metadata(data["metadata"]),
            created_by=request.user,
            request_key=request.headers.get("Idempotency-Key", "")[:200],
            source="api",
            request=request,
        )
    except CallRejected as exc:
        raise ValidationError({exc.field or "non_field_errors": [exc.message]}) from None
    serialized = CallSerializer(call, context={"request": request}).data
    return Response(serialized, status=201 if created else 200)


@extend_schema(operation_id="calls_retrieve", responses=CallDetailSerializer)
@api_requires(Capability.VIEW_CALLS)
@api_view(["GET"])
def call_detail(request: Request, pk: int) -> Response:
    try:
        call = call_get(pk=pk)
    except Call.DoesNotExist:
        raise Http404("No call with this id.") from None
    return Response(CallDetailSerializer(call, context={"request": request}).data)


# --- Agents ----------------------------------------------------------------------------------


class AgentSerializer(ReadModelSerializer):
    class Meta:
        model = Agent
        fields = [
            "id",
            "vendor_account",
            "vendor_agent_id",
            "name",
            "language",
            "voice",
            "variables",
            "is_active",
            "synced_at",
        ]
        read_only_fields = fields


class AgentFilterSerializer(serializers.Serializer):
    account = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    active = OptionalBoolean(required=False)


class AgentPagination(KeysetPagination):
    ordering = ("id",)


@extend_schema(
    operation_id="agents_list",
    parameters=[AgentFilterSerializer, *PAGINATION_PARAMETERS],
    responses=paginated(AgentSerializer),
)
@api_requires(Capability.VIEW_AGENTS)
@api_view(["GET"])
def agents(request: Request) -> Response:
    filters = query_filters(request, AgentFilterSerializer)
    queryset = Agent.objects.all()
    if "account" in filters:
        queryset = queryset.filter(vendor_account_id=filters["account"])
    if filters.get("active") is not None:
        queryset = queryset.filter(is_active=filters["active"])
    return paginate(request, queryset, AgentSerializer, pagination_class=AgentPagination)


# --- Webhook inbox (admins) --------------------------------------------------------------------


class WebhookEventSerializer(ReadModelSerializer):
    class Meta:
        model = WebhookEvent
        fields = [
            "id",
            "vendor_account",
            "dedupe_key",
            "received_at",
            "status",
            "event_type",
            "vendor_call_id",
            "call",
            "attempts",
            "error",
            "processed_at",
        ]
        read_only_fields = fields


class WebhookEventFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(required=False, choices=WebhookStatus.choices)
    account = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


class WebhookEventPagination(KeysetPagination):
    ordering = ("-received_at", "-id")


@extend_schema(
    operation_id="webhook_events_list",
    parameters=[WebhookEventFilterSerializer, *PAGINATION_PARAMETERS],
    responses=paginated(WebhookEventSerializer),
)
@api_requires(Capability.MANAGE_SETTINGS)
@api_view(["GET"])
def webhook_events(request: Request) -> Response:
    filters = query_filters(request, WebhookEventFilterSerializer)
    events = webhook_inbox(
        status=filters.get("status", ""), vendor_account_id=filters.get("account")
    )
    return paginate(
        request, events, WebhookEventSerializer, pagination_class=WebhookEventPagination
    )


@extend_schema(
    operation_id="webhook_events_replay",
    request=None,
    responses={
        202: WebhookEventSerializer,
        409: error_doc("The event was processed already; there is nothing to replay."),
    },
)
@api_requires(Capability.MANAGE_SETTINGS)
@api_view(["POST"])
def webhook_event_replay(request: Request, pk: int) -> Response:
    event = WebhookEvent.objects.filter(pk=pk).first()
    if event is None:
        raise Http404("No such webhook event.")
    if event.status == WebhookStatus.PROCESSED:
        return error_response("conflict", "This event was processed already.", status=409)
    webhook_replay(inbox_id=event.pk)
    audit_record(
        action=AuditAction.WEBHOOK_REPLAYED,
        request=request,
        target=f"webhook event {event.pk}",
        detail={"dedupe_key": event.dedupe_key, "previous_status": event.status},
    )
    event.refresh_from_db()
    return Response(WebhookEventSerializer(event).data, status=202)
