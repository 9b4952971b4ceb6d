"""Failover between a campaign's arms: a dial whose arm cannot reach its vendor goes to its backup.

An arm's vendor account is unreachable while its circuit breaker (vendors.breaker) is open: no
request would be sent, so a call written for it would only wait and fail. The dispatcher asks
here, right before it writes each call, which arm places this attempt:

- the contact's own arm while its breaker lets calls through (closed, or open with its
  cool-down over so that a probe may go: the dial itself is the probe, and traffic returns to
  the arm as soon as the probe succeeds and the breaker closes);
- else the arm's backup, when it names one that is not stopped and whose breaker lets calls
  through: the call *spills*. The contact stays in its own arm (the draw, the retries and the
  comparison keep it there); only this attempt goes through the backup, and the call records
  the arm it spilled from (metadata `spilled_from_arm_id`);
- else nobody: the entry waits until the breaker's cool-down is over.

A dial entry is dialled at most once per attempt whatever the arm: the arm is chosen before the
call is written, under the dispatcher's row lock on the entry, and the call carries the entry's
id; a spilled call is not sent to the first vendor as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from calls.models import Call
from campaigns.models import Campaign, CampaignArm
from vendors import breaker


@dataclass(frozen=True)
class ArmChoice:
    arm: CampaignArm | None  # the arm that places this attempt; None: wait
    spilled_from: CampaignArm | None = None
    retry_at: datetime | None = None  # when waiting: the end of the breaker's cool-down


def arm_for_attempt(arm: CampaignArm, arms: dict[int, CampaignArm], now: datetime) -> ArmChoice:
    """Which arm places this attempt of a contact drawn into `arm` (see the module doc)."""
    if breaker.allows_call(arm.vendor_account_id, now=now):
        return ArmChoice(arm)
    backup = arms.get(arm.backup_arm_id) if arm.backup_arm_id else None
    if (
        backup is not None
        and backup.pk != arm.pk
        and not backup.is_stopped
        and breaker.allows_call(backup.vendor_account_id, now=now)
    ):
        return ArmChoice(backup, spilled_from=arm)
    return ArmChoice(None, retry_at=breaker.state_of(arm.vendor_account_id).open_until)


@dataclass(frozen=True)
class Spill:
    from_arm: str
    to_arm: str
    calls: int


def campaign_spills(campaign: Campaign) -> list[Spill]:
    """How many calls each arm spilled to its backup, for the campaign and comparison pages."""
    names = {arm.pk: arm.name for arm in campaign.arms.all()}
    if not names:
        return []
    rows = (
        Call.objects.filter(campaign=campaign, metadata__has_key="spilled_from_arm_id")
        .annotate(
            from_arm=Cast(KT("metadata__spilled_from_arm_id"), IntegerField()),
            to_arm=Cast(KT("metadata__campaign_arm_id"), IntegerField()),
        )
        .values("from_arm", "to_arm")
        .annotate(calls=Count("pk"))
        .order_by("from_arm", "to_arm")
    )
    return [
        Spill(names.get(row["from_arm"], "?"), names.get(row["to_arm"], "?"), row["calls"])
        for row in rows
    ]


@dataclass(frozen=True)
class ArmDown:
    arm: str
    account: str
    state_label: str
    open_until: datetime | None
    backup: str  # the backup arm's name, "" when the arm has none (its dials wait)


def arms_down(campaign: Campaign) -> list[ArmDown]:
    """The campaign's running arms whose vendor account's breaker is not closed."""
    arms = list(campaign.arms.select_related("vendor_account"))
    if not arms:
        return []
    down = {status.account_id: status for status in breaker.open_breakers()}
    names = {arm.pk: arm.name for arm in arms}
    return [
        ArmDown(
            arm=arm.name,
            account=arm.vendor_account.name,
            state_label="probing" if down[arm.vendor_account_id].state == "half_open" else "open",
            open_until=down[arm.vendor_account_id].open_until,
            backup=names.get(arm.backup_arm_id, ""),
        )
        for arm in arms
        if arm.vendor_account_id in down and not arm.is_stopped
    ]
