"""The arm rows of the campaign form: each further arm is an agent (its vendor account goes
with it), a weight and an optional backup arm, all chosen with selects and numbers.

Arm A is the campaign's own account and agent; a campaign with one or more further arms is
paced by callops. Each arm sends the campaign's variables.
"""

from __future__ import annotations

from typing import Any

from django import forms

from calls.models import Agent
from campaigns.arms import MAX_WEIGHT, ArmSpec
from campaigns.models import MAX_ARMS, Campaign
from vendors.models import CALLING_KINDS

LETTERS = [chr(ord("A") + index) for index in range(MAX_ARMS)]
EXTRA_LETTERS = LETTERS[1:]


class ArmAgentField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Agent) -> str:
        return f"{obj.vendor_account.name} · {obj.name}"


def _agents() -> Any:
    return (
        Agent.objects.filter(
            is_active=True, vendor_account__is_active=True, vendor_account__kind__in=CALLING_KINDS
        )
        .select_related("vendor_account")
        .order_by("vendor_account__name", "name")
    )


def add_arm_fields(form: forms.Form) -> None:
    backups = [("", "None"), *((letter, f"Arm {letter}") for letter in LETTERS)]
    for letter in LETTERS:
        if letter != "A":
            form.fields[f"arm_{letter}_agent"] = ArmAgentField(
                queryset=_agents(),
                required=False,
                label=f"Arm {letter}: agent",
                empty_label="No arm",
                error_messages={"invalid_choice": "That agent is not available; choose another."},
            )
        form.fields[f"arm_{letter}_weight"] = forms.IntegerField(
            min_value=1, max_value=MAX_WEIGHT, required=False, label=f"Arm {letter}: weight"
        )
        form.fields[f"arm_{letter}_backup"] = forms.ChoiceField(
            choices=backups, required=False, label=f"Arm {letter}: backup arm"
        )
        form.initial.setdefault(f"arm_{letter}_weight", 1)


def arm_rows(form: forms.Form) -> list[tuple[str, forms.BoundField | None, list[forms.BoundField]]]:
    """(letter, agent field or None for arm A, [weight, backup]) for the template."""
    return [
        (
            letter,
            form[f"arm_{letter}_agent"] if letter != "A" else None,
            [form[f"arm_{letter}_weight"], form[f"arm_{letter}_backup"]],
        )
        for letter in LETTERS
    ]


def arm_initial(campaign: Campaign) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    arms = list(campaign.arms.all())
    for arm, letter in zip(arms, LETTERS, strict=False):
        if letter != "A":
            initial[f"arm_{letter}_agent"] = arm.agent_id
        initial[f"arm_{letter}_weight"] = arm.weight
        if arm.backup_arm_id:
            backup = next((other for other in arms if other.pk == arm.backup_arm_id), None)
            if backup is not None:
                initial[f"arm_{letter}_backup"] = LETTERS[backup.position - 1]
    return initial


def clean_arm_rows(form: forms.Form, data: dict[str, Any]) -> list[ArmSpec]:
    """The arms as campaigns.arms.ArmSpec; none when no further arm has an agent. Empty rows
    are skipped, so the arms are lettered in the order they are given."""
    chosen = [letter for letter in EXTRA_LETTERS if data.get(f"arm_{letter}_agent")]
    if not chosen:
        return []
    letters = ["A", *chosen]
    position = {letter: index for index, letter in enumerate(letters, start=1)}
    if chosen != EXTRA_LETTERS[: len(chosen)]:
        form.add_error(f"arm_{chosen[-1]}_agent", "Fill the arms in order: B, then C, then D.")
        return []
    account, agent = data.get("vendor_account"), data.get("agent")
    if account is None or agent is None:
        return []  # the account and agent fields say what is missing
    specs = []
    for letter in letters:
        weight = data.get(f"arm_{letter}_weight") or 1
        backup_letter = data.get(f"arm_{letter}_backup") or ""
        backup = None
        if backup_letter:
            if backup_letter == letter:
                form.add_error(f"arm_{letter}_backup", "An arm cannot be its own backup.")
            elif backup_letter not in position:
                form.add_error(f"arm_{letter}_backup", f"Arm {backup_letter} has no agent.")
            else:
                backup = position[backup_letter]
        if letter == "A":
            specs.append(ArmSpec(account, agent, weight, {}, backup))
        else:
            arm_agent = data[f"arm_{letter}_agent"]
            specs.append(ArmSpec(arm_agent.vendor_account, arm_agent, weight, {}, backup))
    return specs
