"""callops' URLs plus the benchmark's two reference endpoints (never part of the product)."""

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from dashboard.urls import urlpatterns as callops_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


@csrf_exempt
def minimal(request: HttpRequest) -> HttpResponse:
    body = request.body
    json.loads(body)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_webhook_minimal (dedupe_key, body) VALUES (%s, %s) "
            "ON CONFLICT (dedupe_key) DO NOTHING",
            [request.headers["X-Webhook-ID"], body.decode()],
        )
    return HttpResponse(status=200)


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/minimal/", minimal),
    *callops_urlpatterns,
]
