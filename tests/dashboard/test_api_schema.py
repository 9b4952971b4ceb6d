"""schemathesis against the live API (the WSGI app in-process), authenticated as an admin token.

Every operation of /api/schema/ gets generated requests; a 5xx, an answer that does not match
its documented schema, or a request that succeeds without credentials fails the test.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from dashboard.audit import audit_record
from dashboard.models import AuditAction
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db


def _schema() -> schemathesis.schemas.BaseSchema:
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


schema = _schema()


@pytest.fixture
def admin_token(settings_override):
    token = ApiTokenFactory(role="admin")
    audit_record(action=AuditAction.TOKEN_CREATED, target="seeded for schemathesis")
    return token.plaintext


@pytest.fixture
def settings_override(settings):
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


def test_it_serves_the_schema_to_a_signed_in_user_only(client_as):
    assert Client().get("/api/schema/").status_code == 401
    response = client_as("operator").get("/api/schema/")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/me", "/api/v1/audit-events/"} <= set(document["paths"])
    assert "apiToken" in document["components"]["securitySchemes"]


def test_it_serves_the_docs_page_from_installed_files(client_as):
    page = client_as("operator").get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "js/api-docs.js" in page
    assert "<script>" not in page  # no inline script under the CSP
    assert "//cdn" not in page


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_it_keeps_every_operation_to_its_schema(case, admin_token):
    # Every default check but "schema-valid data must be accepted": business rules (a number on
    # the do-not-call list, an agent of another account) rightly refuse some schema-valid input.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"},
        excluded_checks=[positive_data_acceptance],
    )
