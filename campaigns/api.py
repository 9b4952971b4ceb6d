"""REST API for campaigns: the same services and selectors as the pages, over JSON.

Transitions answer 409 `{"error": {"code": "conflict", ...}}` when the campaign as it stands
does not allow them (a stopped campaign cannot be launched, an empty audience cannot be).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import (
    PAGINATION_PARAMETERS,
    ReadModelSerializer,
    api_requires,
    error_doc,
    error_response,
    paginate,
    paginated,
)
from accounts.audit import audit_record
from accounts.converters import MAX_ID
from accounts.models import AuditAction
from accounts.roles import Capability, denied_reason, has_capability
from calls.models import Agent
from campaigns import selectors, services
from campaigns.models import CallbackAgent, Campaign
from campaigns.schedule import TemplateError, check_retry_rules, check_template, is_time_zone
from contacts.models import ConsentType, ContactImport, ContactList, ImportStatus
from vendors.models import VendorAccount


class CampaignSerializer(ReadModelSerializer):
    counters = serializers.SerializerMethodField(
        help_text="Dial entries by state, calls by outcome."
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "vendor_account",
            "agent",
            "vendor_campaign_id",
            "calls_per_minute",
            "max_concurrent_calls",
            "variables_template",
            "window_days",
            "window_start_hour",
            "window_end_hour",
            "default_time_zone",
            "retry_rules",
            "callback_agent",
            "starts_at",
            "ends_at",
            "required_consent_type",
            "disclosure_variable",
            "launched_at",
            "stopped_at",
            "last_error",
            "vendor_stats",
            "counters",
            "created_at",
        ]
        read_only_fields = fields

    def get_counters(self, campaign: Campaign) -> dict[str, Any]:
        if not self.context.get("with_counters"):
            return {}
        counters = selectors.campaign_counters(campaign)
        return {
            "total": counters.total,
            "by_state": counters.by_state,
            "by_outcome": counters.by_outcome,
            "connected": counters.connected,
            "live_calls": counters.live_calls,
            "calls_last_minute": counters.calls_last_minute,
        }


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    vendor_account = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    agent = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    contacts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=100000,
        help_text="Picked contact ids; without it, every contact matching audience_search/zone.",
    )
    audience_search = serializers.CharField(required=False, allow_blank=True, max_length=200)
    audience_time_zone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    audience_list = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only contacts in this list (id from GET /api/v1/contacts/lists).",
    )
    audience_import = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only contacts in the file of this finished import.",
    )
    variables_template = serializers.DictField(required=False, default=dict)
    window_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        min_length=1,
        max_length=7,
    )
    window_start_hour = serializers.IntegerField(required=False, min_value=0, max_value=23)
    window_end_hour = serializers.IntegerField(required=False, min_value=1, max_value=24)
    default_time_zone = serializers.CharField(required=False, max_length=64)
    calls_per_minute = serializers.IntegerField(required=False, min_value=1, max_value=600)
    max_concurrent_calls = serializers.IntegerField(required=False, min_value=1, max_value=200)
    retry_rules = serializers.DictField(required=False)
    callback_agent = serializers.ChoiceField(
        choices=CallbackAgent.choices,
        required=False,
        help_text="Who calls back a contact who asked for a callback: `same` (the agent they "
        "spoke to) or `any` (the campaign's agent).",
    )
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    required_consent_type = serializers.ChoiceField(
        choices=ConsentType.choices,
        required=False,
        allow_blank=True,
        help_text="Dial only contacts with valid consent of this type; empty: none required.",
    )
    disclosure_variable = serializers.RegexField(
        r"^[A-Za-z_][A-Za-z0-9_]*$",
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="A variable of variables_template that must be non-empty for contacts in "
        "all-party recording-consent places (checked at launch).",
    )

    def validate_variables_template(self, value: Any) -> Any:
        try:
            return check_template(value)
        except TemplateError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_retry_rules(self, value: Any) -> Any:
        try:
            return check_retry_rules(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_default_time_zone(self, value: str) -> str:
        if not is_time_zone(value):
            raise serializers.ValidationError("Give an IANA time zone, as Europe/Paris.")
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        start, end = data.get("window_start_hour", 9), data.get("window_end_hour", 18)
        if start >= end:
            raise serializers.ValidationError({"window_end_hour": ["End after the start hour."]})
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise serializers.ValidationError({"ends_at": ["End after the start."]})
        if "window_days" in data:
            data["window_days"] = sorted(set(data["window_days"]))
        disclosure = data.get("disclosure_variable")
        if disclosure and disclosure not in data.get("variables_template", {}):
            raise serializers.ValidationError(
                {"disclosure_variable": [f"Not among variables_template: “{disclosure}”."]}
            )
        return data


def _get(pk: int) -> Campaign:
    try:
        return selectors.campaign_get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404("No campaign with this id.") from None


@extend_schema(
    methods=["GET"],
    operation_id="campaigns_list",
    parameters=PAGINATION_PARAMETERS,
    responses=paginated(CampaignSerializer),
)
@extend_schema(
    methods=["POST"],
    operation_id="campaigns_create",
    request=CampaignCreateSerializer,
    responses={201: CampaignSerializer},
)
@api_requires(Capability.VIEW_CAMPAIGNS)
@api_view(["GET", "POST"])
def campaigns(request: Request) -> Response:
    if request.method == "GET":
        return paginate(request, selectors.campaign_list(), CampaignSerializer)
    if not has_capability(request.user, Capability.RUN_CAMPAIGNS):
        raise PermissionDenied(denied_reason(Capability.RUN_CAMPAIGNS))
    body = CampaignCreateSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = dict(body.validated_data)
    account = VendorAccount.objects.filter(pk=data["vendor_account"]).first()
    agent = Agent.objects.filter(pk=data["agent"]).first()
    missing = {
        name: ["No such object."]
        for name, found in (("vendor_account", account), ("agent", agent))
        if found is None
    }
    if missing:
        raise ValidationError(missing)
    data["vendor_account"], data["agent"] = account, agent
    _audience_objects(data)
    contact_ids = data.pop("contacts", None)
    data["audience_picked"] = contact_ids is not None
    contacts = services.audience_contacts(
        search=data.get("audience_search", ""),
        time_zone=data.get("audience_time_zone", ""),
        contact_ids=contact_ids,
        list_id=data["audience_list"].pk if data.get("audience_list") else None,
        import_id=data["audience_import"].pk if data.get("audience_import") else None,
    )
    try:
        campaign = services.campaign_save(
            campaign=None, data=data, contacts=contacts, created_by=request.user
        )
    except services.CampaignError as exc:
        raise ValidationError(exc.message) from None
    context = {"request": request, "with_counters": True}
    return Response(CampaignSerializer(_get(campaign.pk), context=context).data, status=201)


def _audience_objects(data: dict[str, Any]) -> None:
    """The list and import ids of the audience as objects; 400 naming one that is missing."""
    found = {
        "audience_list": (ContactList.objects.all(), "No such list."),
        "audience_import": (
            ContactImport.objects.filter(status=ImportStatus.DONE),
            "No finished import with this id.",
        ),
    }
    missing = {}
    for name, (queryset, message) in found.items():
        if name in data:
            data[name] = queryset.filter(pk=data[name]).first()
            if data[name] is None:
                missing[name] = [message]
    if missing:
        raise ValidationError(missing)


@extend_schema(operation_id="campaigns_retrieve", responses=CampaignSerializer)
@api_requires(Capability.VIEW_CAMPAIGNS)
@api_view(["GET"])
def campaign_detail(request: Request, pk: int) -> Response:
    context = {"request": request, "with_counters": True}
    return Response(CampaignSerializer(_get(pk), context=context).data)


def _transition(request: Request, pk: int, action: str) -> Response:
    _get(pk)
    try:
        campaign = services.campaign_transition(campaign_id=pk, action=action)
    except services.CampaignError as exc:  # InvalidTransition included
        # The request itself is fine (it has no body); the campaign's state refuses it.
        return error_response("conflict", exc.message, status=409)
    audit_action = {"launch": AuditAction.CAMPAIGN_LAUNCHED, "stop": AuditAction.CAMPAIGN_STOPPED}
    if action in audit_action:
        audit_record(
            action=audit_action[action], request=request, target=f"campaign {pk} {campaign.name}"
        )
    context = {"request": request, "with_counters": True}
    return Response(CampaignSerializer(_get(pk), context=context).data)


def _transition_view(action: str):
    @extend_schema(
        operation_id=f"campaigns_{action}",
        request=None,
        responses={
            200: CampaignSerializer,
            409: error_doc(f"The campaign cannot be {services.ACTION_VERBS[action]} as it stands."),
        },
    )
    @api_requires(Capability.RUN_CAMPAIGNS)
    @api_view(["POST"])
    def view(request: Request, pk: int) -> Response:
        return _transition(request, pk, action)

    view.__name__ = f"campaign_{action}"
    return view


campaign_launch = _transition_view("launch")
campaign_pause = _transition_view("pause")
campaign_resume = _transition_view("resume")
campaign_stop = _transition_view("stop")
