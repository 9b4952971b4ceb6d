"""Arms of a paced campaign: saving them, the seeded stratified draw of contacts into them at
launch, and the changes an operator makes while the campaign runs (weights, stopping an arm).

The draw is reproducible: the seed is stored on the campaign and every later draw (after a
weight change or a stopped arm) is seeded by the seed and its draw number, so anyone can redo
the split from what is stored and compare it with the entries.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from calls.models import Agent
from campaigns.models import (
    ACTIVE_CAMPAIGN_STATUSES,
    MAX_ARMS,
    Campaign,
    CampaignArm,
    CampaignStatus,
    DialEntry,
    DialState,
)
from contacts.models import ContactImportMember
from vendors.models import VendorAccount

MAX_WEIGHT = 1000


class ArmError(ValueError):
    """An arm setting or change that is not possible; `message` is shown to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ArmSpec:
    """One arm as a form or the API gives it; `backup` is the position of its backup arm."""

    vendor_account: VendorAccount
    agent: Agent
    weight: int
    variables_template: dict[str, Any]
    backup: int | None = None


# ------------------------------------------------------------------------------------ draw


def draw_arms(
    entries: Sequence[tuple[int, str, str]], weights: Sequence[tuple[int, int]], *, seed: str
) -> dict[int, int]:
    """Assigns each (entry id, time zone, source) to an arm of (arm id, weight): {entry: arm}.

    Stratified: the entries of each (time zone, source) are shuffled by the seed, then dealt
    out by smooth weighted round-robin whose state runs on across the strata, so every stratum
    and the whole audience are split within about one contact per arm of the weights.
    """
    live = [(arm, weight) for arm, weight in weights if weight > 0]
    if not live:
        raise ArmError("At least one arm needs a weight above zero.")
    total = sum(weight for _arm, weight in live)
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for entry_id, zone, source in entries:
        strata[(zone, source)].append(entry_id)
    rng = random.Random(seed)  # noqa: S311 - reproducible by design, not a secret
    credit = dict.fromkeys((arm for arm, _weight in live), 0)
    assigned: dict[int, int] = {}
    for key in sorted(strata):
        members = sorted(strata[key])
        rng.shuffle(members)
        for entry_id in members:
            for arm, weight in live:
                credit[arm] += weight
            chosen = max(live, key=lambda item: credit[item[0]])[0]  # first arm wins a tie
            credit[chosen] -= total
            assigned[entry_id] = chosen
    return assigned


def draw_seed(campaign: Campaign) -> str:
    """The seed of the campaign's latest draw: its stored seed and the draw's number."""
    return f"{campaign.arm_seed}:{campaign.arm_draws}"


def contact_sources(contact_ids: Iterable[int]) -> dict[int, str]:
    """Where each contact came from: its latest import's file, by contact id (absent: typed in)."""
    ids = list(contact_ids)
    sources: dict[int, str] = {}
    for start in range(0, len(ids), 1000):
        rows = (
            ContactImportMember.objects.filter(contact_id__in=ids[start : start + 1000])
            .order_by("contact_import_id")
            .values_list("contact_id", "contact_import__file_name")
        )
        for contact_id, file_name in rows:
            sources[contact_id] = f"import {file_name}"[:80]
    return sources


# ------------------------------------------------------------------------------ writes


def arms_save(*, campaign: Campaign, arms: Sequence[ArmSpec]) -> list[CampaignArm]:
    """Replaces a draft campaign's arms (none, or 2 to 4); the first is the campaign's own."""
    if arms and not 2 <= len(arms) <= MAX_ARMS:
        raise ArmError(f"A campaign has no arms or 2 to {MAX_ARMS}.")
    for position, spec in enumerate(arms, start=1):
        name = f"Arm {chr(ord('A') + position - 1)}"
        if not spec.vendor_account.is_calling:
            raise ArmError(f"{name}: {spec.vendor_account.get_kind_display()} places no calls.")
        if spec.agent.vendor_account_id != spec.vendor_account.pk:
            raise ArmError(f"{name}: {spec.agent} is not an agent of {spec.vendor_account}.")
        if not 1 <= spec.weight <= MAX_WEIGHT:
            raise ArmError(f"{name}: a weight is a whole number from 1 to {MAX_WEIGHT}.")
        if spec.backup is not None and not (1 <= spec.backup <= len(arms)):
            raise ArmError(f"{name}: the backup arm is not an arm of this campaign.")
        if spec.backup == position:
            raise ArmError(f"{name}: an arm cannot be its own backup.")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise ArmError("The arms of a launched campaign are changed one at a time.")
        DialEntry.objects.filter(campaign=locked).update(arm=None)
        CampaignArm.objects.filter(campaign=locked).delete()
        saved = [
            CampaignArm.objects.create(
                campaign=locked,
                position=position,
                vendor_account=spec.vendor_account,
                agent=spec.agent,
                weight=spec.weight,
                variables_template=spec.variables_template,
            )
            for position, spec in enumerate(arms, start=1)
        ]
        for arm, spec in zip(saved, arms, strict=True):
            if spec.backup is not None:
                arm.backup_arm = saved[spec.backup - 1]
                arm.save(update_fields=["backup_arm"])
    return saved


def arms_assign_at_launch(campaign: Campaign) -> int:
    """At first launch (inside the launch's transaction): take each entry's source, seed the
    campaign and draw the entries that will be dialled into the arms. How many were drawn."""
    arms = list(campaign.arms.all())
    if not arms:
        return 0
    entries = DialEntry.objects.filter(campaign=campaign)
    sources = contact_sources(
        entries.exclude(contact=None).values_list("contact_id", flat=True).iterator()
    )
    by_source: dict[str, list[int]] = defaultdict(list)
    for pk, contact_id in entries.values_list("pk", "contact_id"):
        by_source[sources.get(contact_id, "") if contact_id else ""].append(pk)
    for source, pks in by_source.items():
        if source:
            for start in range(0, len(pks), 1000):
                DialEntry.objects.filter(pk__in=pks[start : start + 1000]).update(source=source)
    campaign.arm_seed = secrets.randbits(62)
    campaign.arm_draws = 1
    campaign.save(update_fields=["arm_seed", "arm_draws"])
    return _draw_into(campaign, entries.filter(state=DialState.PENDING), arms)


def _draw_into(campaign: Campaign, entries: Any, arms: list[CampaignArm]) -> int:
    rows = list(entries.values_list("pk", "time_zone", "source"))
    assigned = draw_arms(
        rows,
        [(arm.pk, arm.weight) for arm in arms if not arm.is_stopped],
        seed=draw_seed(campaign),
    )
    by_arm: dict[int, list[int]] = defaultdict(list)
    for entry_id, arm_id in assigned.items():
        by_arm[arm_id].append(entry_id)
    for arm_id, pks in by_arm.items():
        for start in range(0, len(pks), 1000):
            DialEntry.objects.filter(pk__in=pks[start : start + 1000]).update(arm_id=arm_id)
    return len(assigned)


def arm_change(
    *,
    campaign_id: int,
    arm_id: int,
    weight: int | None = None,
    stop: bool = False,
    actor: Any = None,
    request: Any = None,
) -> int:
    """Shifts an arm's weight or stops it while its campaign runs (or is paused); audited.

    Future dials follow: the contacts not dialled yet are drawn again over the arms still
    running with their weights now (a new numbered draw of the same seed). Contacts already
    dialled keep their arm; a stopped arm's scheduled retries are cancelled. Returns how many
    contacts were drawn again.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(of=("self",)).get(pk=campaign_id)
        if campaign.status not in ACTIVE_CAMPAIGN_STATUSES:
            raise ArmError("Arms change only while the campaign runs or is paused.")
        arms = list(CampaignArm.objects.select_for_update().filter(campaign=campaign))
        arm = next((item for item in arms if item.pk == arm_id), None)
        if arm is None:
            raise ArmError("No such arm in this campaign.")
        if arm.is_stopped:
            raise ArmError(f"{arm.name} is stopped.")
        before = arm.weight
        if stop:
            if sum(1 for item in arms if not item.is_stopped) <= 1:
                raise ArmError("This is the last running arm: stop the campaign instead.")
            arm.stopped_at = timezone.now()
            arm.save(update_fields=["stopped_at"])
            DialEntry.objects.filter(arm=arm, state=DialState.RETRY_SCHEDULED).update(
                state=DialState.RETRY_CANCELLED,
                next_attempt_at=None,
                note=f"{arm.name} was stopped."[:300],
                updated_at=timezone.now(),
            )
        elif weight is not None:
            if not 1 <= weight <= MAX_WEIGHT:
                raise ArmError(f"A weight is a whole number from 1 to {MAX_WEIGHT}.")
            if weight == arm.weight:
                return 0
            arm.weight = weight
            arm.save(update_fields=["weight"])
        else:
            raise ArmError("Give a new weight or stop the arm.")
        campaign.arm_draws += 1
        campaign.save(update_fields=["arm_draws", "updated_at"])
        undialled = DialEntry.objects.filter(
            Q(arm__isnull=False), campaign=campaign, state=DialState.PENDING, attempts=0
        )
        drawn = _draw_into(campaign, undialled, arms)
        audit_record(
            action=AuditAction.CAMPAIGN_ARM_CHANGED,
            request=request,
            actor=actor,
            target=f"campaign {campaign.pk} {campaign.name} {arm.name}"[:200],
            detail={
                "arm": arm.name,
                "stopped": stop,
                "weight_before": before,
                "weight_after": arm.weight,
                "draw": campaign.arm_draws,
                "contacts_drawn_again": drawn,
            },
        )
    return drawn
