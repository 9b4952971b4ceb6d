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

An arm also spills when its vendor account's **rate budget** (vendors/ratelimit.py) cannot start
the call before the campaign's next slot: the calls already waiting for that budget come first,
and the backup must be able to start it in time (`ArmRouter`). Without such a backup the call is
written for its own arm and waits for the budget, as before.

Calls **already written** for an arm when its breaker opens (waiting to be sent, or waiting for
a retry after a connection that was never made or an error answer) move to the backup too, at
the next dispatcher run (`move_unsent_calls`): the call row decides under its lock whether any
vendor may have it (calls/reroute.py); one that may (a timeout after sending, a dropped
connection) stays and retries with its idempotency key at the first vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, IntegerField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from calls import governor
from calls.models import Call
from calls.reroute import NewRoute, call_reroute, never_sent
from calls.vendor_calls import call_start_free_at
from campaigns.models import Campaign, CampaignArm
from campaigns.schedule import render_variables
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


class ArmRouter:
    """Which arm places each attempt during one dispatcher run: `arm_for_attempt`, and a spill
    when the arm's rate budget cannot start the call before the slot after its own."""

    def __init__(self, arms: dict[int, CampaignArm], now: datetime, interval: timedelta) -> None:
        self.arms = arms
        self.now = now
        self.interval = interval
        # Calls waiting for each account's budget (unsent, not being sent), counted once per
        # run and then kept up to date as the run writes calls.
        self._waiting: dict[int, int] = {}
        self._by_breaker: dict[int, ArmChoice] = {}  # once per arm and run

    def choose(self, arm: CampaignArm, slot: datetime) -> ArmChoice:
        if arm.pk not in self._by_breaker:
            self._by_breaker[arm.pk] = arm_for_attempt(arm, self.arms, self.now)
        choice = self._by_breaker[arm.pk]
        backup = self.arms.get(arm.backup_arm_id) if arm.backup_arm_id else None
        if choice.arm is not arm or backup is None or backup.pk == arm.pk or backup.is_stopped:
            return choice  # its breaker decided, or there is nowhere else to go
        # Before the next slot (counted from now when the schedule runs behind).
        deadline = max(slot, timezone.now()) + self.interval
        if self._starts_by(arm, deadline):
            return choice
        if breaker.allows_call(backup.vendor_account_id, now=self.now) and self._starts_by(
            backup, deadline
        ):
            return ArmChoice(backup, spilled_from=arm)
        return choice  # the backup cannot do better: the call waits for its arm's budget

    def placed(self, arm: CampaignArm) -> None:
        """A call was written for the arm's account in this run."""
        if arm.vendor_account_id in self._waiting:
            self._waiting[arm.vendor_account_id] += 1

    def _starts_by(self, arm: CampaignArm, deadline: datetime) -> bool:
        account_id = arm.vendor_account_id
        if account_id not in self._waiting:
            self._waiting[account_id] = (
                never_sent(self.now).filter(vendor_account_id=account_id).count()
            )
        free_at = call_start_free_at(arm.vendor_account, queued=self._waiting[account_id])
        return free_at <= deadline


def arm_headroom(campaign: Campaign) -> tuple[int | None, set[int]]:
    """The governor's live-call headroom for the campaign's next calls (None: no limit), and
    the arms to hold back because their own account is at its limit. With arms, every running
    arm's account counts: a full account holds back its arm, not the campaign. (An arm whose
    breaker is open is not held back: its dials spill to its backup or wait for the vendor.)"""
    arms = [arm for arm in campaign.arms.select_related("vendor_account") if not arm.is_stopped]
    if not arms:
        return governor.headroom(campaign.vendor_account), set()
    free, full_accounts = governor.headroom_across(arm.vendor_account for arm in arms)
    held = {
        arm.pk
        for arm in arms
        if arm.vendor_account_id in full_accounts and breaker.allows_call(arm.vendor_account_id)
    }
    return free, held


# Calls moved in one dispatcher run at most; the next run moves the rest.
MOVE_BATCH = 200


def move_unsent_calls(campaign: Campaign, now: datetime) -> int:
    """Moves the campaign's calls that wait for an arm whose breaker is open, and that no
    vendor can have received, to that arm's backup (see the module doc). How many moved."""
    arms = {
        arm.pk: arm
        for arm in CampaignArm.objects.filter(campaign=campaign).select_related(
            "vendor_account", "agent"
        )
    }
    moved = 0
    for arm in arms.values():
        if not arm.backup_arm_id:
            continue
        backup = arm_for_attempt(arm, arms, now).arm
        if backup is None or backup.pk == arm.pk:
            continue
        stranded = (
            never_sent(now)
            .filter(campaign=campaign, vendor_account_id=arm.vendor_account_id)
            .filter(metadata__campaign_arm_id=arm.pk)
            .select_related("contact")
            .order_by("pk")[: MOVE_BATCH - moved]
        )
        for call in stranded:
            moved += call_reroute(call_id=call.pk, route=_backup_route(campaign, call, backup, arm))
    return moved


def _backup_route(
    campaign: Campaign, call: Call, backup: CampaignArm, down: CampaignArm
) -> NewRoute:
    metadata = {**call.metadata, "campaign_arm_id": backup.pk}
    # The contact's own arm, where the call was drawn (a call may spill on from a backup).
    home = metadata.get("spilled_from_arm_id", down.pk)
    if home == backup.pk:
        metadata.pop("spilled_from_arm_id", None)  # back in its own arm
    else:
        metadata["spilled_from_arm_id"] = home
    return NewRoute(
        vendor_account=backup.vendor_account,
        agent=backup.agent,
        variables=render_variables(
            backup.variables_template or campaign.variables_template, call.contact
        ),
        metadata=metadata,
        reason=f"{down.name}'s vendor is not answering (circuit open); {backup.name} places it.",
    )


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
