"""schemathesis against the live API (the WSGI app in-process), authenticated as an admin token.

Every operation of /api/schema/ gets generated requests, valid and invalid, aimed at stored rows
of every shape (tests/dashboard/api_schema_support.py). Each answer goes through every
schemathesis check that applies to this API: no 5xx; the status code, content type, headers and
body are the documented ones; invalid data is refused; valid data is accepted where the schema
can say what valid is; no operation answers without credentials; 405s name what is allowed.
"""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings

from tests.dashboard.api_schema_support import (
    aim_at_world,
    checks_except,
    load_schema,
)

pytestmark = pytest.mark.django_db

schema = load_schema()

# Where a schema-valid request may still be refused with 400, because validity depends on
# more than the schema can say: whether a phone number exists, whether a text is an IANA time
# zone, whether an uploaded file is a CSV. Everywhere else, valid data must be accepted.
SEMANTIC_BODIES = {
    "calls_create",
    "contacts_create",
    "campaigns_create",
    "contacts_import_create",
    "do_not_call_add",
    "contact_consent_add",
    "do_not_call_remove",
}


def test_it_serves_the_schema_to_a_signed_in_user_only(client_as):
    assert Client().get("/api/schema/").status_code == 401
    response = client_as("operator").get("/api/schema/")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/me", "/api/v1/audit-events/"} <= set(document["paths"])
    assert "apiToken" in document["components"]["securitySchemes"]


def test_it_fuzzes_the_schema_it_serves(client_as):
    served = client_as("operator").get("/api/schema/").json()
    assert served == schema.raw_schema


def test_it_serves_the_docs_page_from_installed_files(client_as):
    page = client_as("operator").get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "js/api-docs.js" in page
    assert "<script>" not in page  # no inline script under the CSP
    assert "//cdn" not in page


def test_it_runs_every_check_that_applies():
    names = {check.__name__ for check in checks_except()}
    assert names >= {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
    }


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_it_keeps_every_operation_to_its_schema(case, admin_token, api_world):
    aim_at_world(case, api_world)
    semantic = case.operation.definition.raw.get("operationId") in SEMANTIC_BODIES
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"},
        checks=checks_except("positive_data_acceptance") if semantic else checks_except(),
    )
