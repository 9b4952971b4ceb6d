"""Creating voice-platform agents from callops, so they can place calls at once.

The vendor request and the flows/speakers live in `vendors.voice_config`; this module adds
what the calls app owns: the `Agent` row that the new-call form and campaigns pick from.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from calls.models import Agent
from calls.services import agents_sync
from vendors.errors import VendorError
from vendors.models import VendorAccount
from vendors.voice_config import VoiceConfigError, agent_create_at_vendor, flows_sync

logger = logging.getLogger(__name__)


def voice_agent_create(
    *,
    account: VendorAccount,
    name: str,
    flow_id: str | None = None,
    voice: str | None = None,
    language: str | None = None,
    config: dict[str, Any] | None = None,
    request_key: str | None = None,
) -> Agent:
    """Create the agent at the vendor, then sync the account's agents.

    The agent's own row is written from the vendor's answer as well, so it is usable at once
    even when the follow-up list fails or does not list it yet.
    """
    created = agent_create_at_vendor(
        account=account,
        name=name,
        flow_id=flow_id,
        voice=voice,
        language=language,
        config=config,
        request_key=request_key,
    )
    try:
        agents_sync(account=account)
    except VendorError as exc:
        logger.warning("Agent sync after creating %s failed: %s", created.id, exc)
    agent, _ = Agent.objects.update_or_create(
        vendor_account=account,
        vendor_agent_id=created.id,
        defaults={
            "name": created.name or name,
            "language": created.language or language or "",
            "voice": created.voice or voice or "",
            "is_active": True,
            "synced_at": timezone.now(),
        },
    )
    return agent


def voice_configuration_refresh(*, account: VendorAccount) -> tuple[int, int]:
    """Copy the account's agents and flows from the vendor: (agents, flows) listed."""
    try:
        agents = agents_sync(account=account)
    except VendorError as exc:
        raise VoiceConfigError(f"Could not list the agents: {exc.message}") from None
    return agents, flows_sync(account=account)
