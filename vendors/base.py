"""The base of the five vendor clients: one VendorHttp, closed with the client."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import ClassVar, Self

from vendors.breaker import AccountBreaker
from vendors.http import ApiKey, AuthStyle, RetryPolicy, Timeouts, VendorHttp
from vendors.ratelimit import AccountRateBudget


def new_idempotency_key() -> str:
    """One key per logical request; the HTTP core resends this same key on every retry."""
    return str(uuid.uuid4())


class VendorClient:
    vendor: ClassVar[str]
    auth: ClassVar[AuthStyle]

    def __init__(
        self,
        *,
        base_url: str,
        api_key: ApiKey | str,
        budget: AccountRateBudget | None = None,
        breaker: AccountBreaker | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.http = VendorHttp(
            vendor=self.vendor,
            base_url=self.normalise_base_url(base_url),
            api_key=api_key if isinstance(api_key, ApiKey) else ApiKey(api_key),
            auth=self.auth,
            budget=budget,
            breaker=breaker,
            retry=retry,
            timeouts=timeouts,
            sleep=sleep,
            rng=rng,
        )

    @classmethod
    def normalise_base_url(cls, base_url: str) -> str:
        return base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.http.base_url}>"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
