"""What the API's schema tests share: the schema, the checks, the rows, the fixtures.

An empty database only ever answers 404 and empty pages, which hides what the answers look
like: a call with no outcome yet, a contact without an email, a stopped campaign asked to
launch, a processed webhook asked to replay. `seed_api_world` stores each of them, and
`aim_at_world` points a generated request's ids at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from schemathesis import Case
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.transport.requests import prepare_multipart_parts
from schemathesis.transport.wsgi import WSGI_TRANSPORT

from accounts.audit import audit_record
from accounts.converters import MAX_ID
from accounts.models import AuditAction
from calls.models import CallOutcome, CallState, WebhookStatus
from campaigns.models import CampaignKind, CampaignStatus
from tests.factories import (
    AgentFactory,
    ApiTokenFactory,
    CallFactory,
    CampaignFactory,
    ContactFactory,
    ContactImportFactory,
    DialEntryFactory,
    DoNotCallEntryFactory,
    PostCallRuleFactory,
    PostCallStepFactory,
    VendorAccountFactory,
    VoiceAccountFactory,
    WebhookEventFactory,
)

# The checks that cannot apply to callops, and why. Every other registered check runs, so a
# check added by a schemathesis upgrade runs too (test_it_runs_every_check_that_applies).
NOT_APPLICABLE = {
    # Compares what one principal's objects look like to another's; callops has no per-user
    # objects: a role sees every call, contact and campaign (tests/dashboard/test_roles.py).
    "object_level_authorization": "no per-user objects",
}


def checks_except(*excluded: str) -> list:
    load_all_checks()
    skipped = NOT_APPLICABLE.keys() | set(excluded)
    return [
        check
        for check in CHECKS.get_all()
        if not isinstance(check, type) and check.__name__ not in skipped
    ]


_werkzeug_multipart = WSGI_TRANSPORT.get_first_matching_media_type("multipart/form-data")[1]


@WSGI_TRANSPORT.serializer("multipart/form-data")
def _multipart_as_clients_send_it(ctx, value):
    # Werkzeug encodes an empty form field without the blank line that browsers, requests and
    # curl send (pallets/werkzeug#2639), and Django's parser drops such a part unseen: the
    # in-process requests would then differ from what real clients send. Encode as requests does.
    if not isinstance(value, dict) or not value:
        # Nothing to send: requests would send no body and no Content-Type at all.
        return _werkzeug_multipart(ctx, value)
    files, data = prepare_multipart_parts(ctx, value)
    prepared = requests.PreparedRequest()
    prepared.prepare_headers(None)
    prepared.prepare_body(data, files)
    if "Content-Type" not in prepared.headers:
        # Every part was empty (None values are left out): requests sends no body either.
        return _werkzeug_multipart(ctx, value)
    return {"data": prepared.body, "content_type": prepared.headers["Content-Type"]}


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The document /api/schema/ serves, answered by the WSGI app in this process."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


@pytest.fixture
def in_process_api(settings):
    # Generated requests must not run into the per-token rate limit.
    settings.CALLOPS_API_RATE = "100000/min"
    cache.clear()
    # The WSGI app runs in this thread inside the test's transaction: keep Django from closing
    # the connection at the end of each request (django.test.Client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield settings
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    cache.clear()


@pytest.fixture
def admin_token(in_process_api) -> str:
    token = ApiTokenFactory(role="admin")
    audit_record(action=AuditAction.TOKEN_CREATED, target="seeded for schemathesis")
    return token.plaintext


@pytest.fixture
def api_world(admin_token) -> ApiWorld:
    return seed_api_world()


@dataclass
class ApiWorld:
    vendor_account: int
    agent: int
    contacts: list[int]
    # Existing ids for each path template with an {id}.
    ids_by_path: dict[str, list[int]] = field(default_factory=dict)

    def ids_for(self, path: str) -> list[int]:
        for prefix, ids in self.ids_by_path.items():
            if path.startswith(prefix):
                return ids
        return []


def seed_api_world() -> ApiWorld:
    now = timezone.now()
    account = VendorAccountFactory()
    agent = AgentFactory(vendor_account=account, language="", voice="")
    bare = ContactFactory(name="", email="", linkedin_url="", time_zone="")
    full = ContactFactory(linkedin_url="https://www.linkedin.com/in/ada")
    blocked = ContactFactory(email="")
    DoNotCallEntryFactory(phone_e164=blocked.phone_e164)

    waiting = CallFactory(vendor_account=account, agent=agent, contact=bare)  # no outcome yet
    typed = CallFactory(vendor_account=account, agent=None, contact=None, to_number="+14155550100")
    ended = CallFactory(
        vendor_account=account,
        agent=agent,
        contact=full,
        state=CallState.ENDED,
        outcome=CallOutcome.COMPLETED,
        vendor_outcome="customer_ended_call",
        recording_url="https://recordings.example.com/1.mp3",
        duration_seconds=61,
        started_at=now,
        ended_at=now,
        summary="Interested in the annual plan.",
        transcript=[{"speaker": "agent", "text": "Hello"}],
    )
    rule = PostCallRuleFactory(vendor_account=account)
    PostCallStepFactory(rule=rule, call=ended, result={"results": {"sentiment": "positive"}})
    PostCallStepFactory(rule=rule, call=waiting)

    campaigns = [
        CampaignFactory(vendor_account=account, agent=agent, status=status)
        for status in CampaignStatus.values
    ]
    for campaign in campaigns:
        DialEntryFactory(campaign=campaign, contact=full)
    empty_draft = CampaignFactory(vendor_account=account, agent=agent)
    voice = VoiceAccountFactory()
    native = CampaignFactory(
        vendor_account=voice,
        agent=AgentFactory(vendor_account=voice),
        kind=CampaignKind.NATIVE,
        status=CampaignStatus.RUNNING,
    )

    events = [
        WebhookEventFactory(vendor_account=account, status=status)
        for status in WebhookStatus.values
    ]
    contact_import = ContactImportFactory()

    return ApiWorld(
        vendor_account=account.pk,
        agent=agent.pk,
        contacts=[bare.pk, full.pk, blocked.pk],
        ids_by_path={
            "/api/v1/calls/": [waiting.pk, typed.pk, ended.pk],
            "/api/v1/campaigns/": [c.pk for c in [*campaigns, empty_draft, native]],
            "/api/v1/webhook-events/": [event.pk for event in events],
            "/api/v1/contacts/imports/": [contact_import.pk],
        },
    )


def _is_valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def aim_at_world(case: Case, world: ApiWorld) -> None:
    """Points the valid ids of a generated request at stored rows (most of the time).

    Only ids the schema allows are changed, and only into other allowed ids, so a negative case
    stays exactly as negative as it was generated. One id in len+1 is left as generated, to keep
    asking for rows that do not exist.
    """
    ids = world.ids_for(case.operation.path)
    pk = case.path_parameters.get("id") if case.path_parameters else None
    if ids and _is_valid_id(pk):
        slot = pk % (len(ids) + 1)
        if slot < len(ids):
            case.path_parameters["id"] = ids[slot]
    if not isinstance(case.body, dict):
        return
    body = case.body
    for name, stored in (("vendor_account", world.vendor_account), ("agent", world.agent)):
        if _is_valid_id(body.get(name)) and body[name] % 4:
            body[name] = stored
    if _is_valid_id(body.get("contact")):
        body["contact"] = world.contacts[body["contact"] % len(world.contacts)]
    if isinstance(body.get("contacts"), list) and all(map(_is_valid_id, body["contacts"])):
        body["contacts"] = [world.contacts[pk % len(world.contacts)] for pk in body["contacts"]]
