"""Reads of calls and agents for pages and the API."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from calls.models import Agent, Call


def call_list() -> QuerySet[Call]:
    return Call.objects.select_related("vendor_account", "agent", "contact", "campaign")


def agent_list() -> QuerySet[Agent]:
    return Agent.objects.select_related("vendor_account").annotate(call_count=Count("calls"))
