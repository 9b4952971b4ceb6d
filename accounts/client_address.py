"""The address a request came from, for the sign-in lockout (django-axes calls `client_address`).

Without a proxy it is the connection's address (REMOTE_ADDR): an X-Forwarded-For header the
client wrote itself buys no extra guesses. Behind proxies every connection comes from the
proxy, so one address would lock everyone out; with CALLOPS_TRUSTED_PROXIES = N, the number of
proxies in front of callops that each *append* the address they saw to X-Forwarded-For (nginx's
`$proxy_add_x_forwarded_for`), the client is the N-th address from the right: what the first
proxy saw. Addresses further left were written by the client and are ignored.

(django-ipware counts proxies the other way: with one proxy and a header the client left empty
it finds no address at all, and with a client-written header it trusts the left-most entry.)
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "CALLOPS_TRUSTED_PROXIES", 0)
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote  # not through every trusted proxy: only the connection is known
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
