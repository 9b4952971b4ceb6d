from __future__ import annotations

from django.db.models import QuerySet

from campaigns.models import Campaign


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("vendor_account", "agent")
