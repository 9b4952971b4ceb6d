"""A single call's fallback: when the chosen vendor is down, place the call through another.

A single call (page or API) may name a fallback agent on another vendor account. Right before
the call is written, callops asks the chosen account's circuit breaker (vendors.breaker): while
it lets calls through, the call goes there as asked; while it is open and the fallback's lets
calls through, the call is written for the fallback's account and agent instead, and its
metadata keeps the account it fell back from (`fell_back_from_account_id`). Either way one call
is written, so the number is dialled once.
"""

from __future__ import annotations

from dataclasses import dataclass

from calls.models import Agent
from vendors import breaker
from vendors.models import VendorAccount

FELL_BACK_FROM = "fell_back_from_account_id"


class FallbackRejected(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    vendor_account: VendorAccount
    agent: Agent
    fell_back_from: VendorAccount | None = None

    def metadata(self, metadata: dict) -> dict:
        if self.fell_back_from is None:
            return metadata
        return {**metadata, FELL_BACK_FROM: self.fell_back_from.pk}


def check_fallback(vendor_account: VendorAccount, fallback_agent: Agent | None) -> None:
    """A fallback must be an active agent of another account; raises FallbackRejected."""
    if fallback_agent is None:
        return
    if fallback_agent.vendor_account_id == vendor_account.pk:
        raise FallbackRejected("The fallback agent must belong to another vendor account.")
    if not fallback_agent.is_active:
        raise FallbackRejected("The fallback agent is no longer active.")


def calling_route(
    vendor_account: VendorAccount, agent: Agent, fallback_agent: Agent | None = None
) -> Route:
    """Where the call goes: as asked, or through the fallback while the account is down."""
    asked = Route(vendor_account, agent)
    if fallback_agent is None or breaker.allows_call(vendor_account.pk):
        return asked
    if not breaker.allows_call(fallback_agent.vendor_account_id):
        return asked  # both down: the call waits for the account it was asked for
    return Route(fallback_agent.vendor_account, fallback_agent, fell_back_from=vendor_account)
