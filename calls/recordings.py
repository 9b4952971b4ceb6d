"""Recordings: fetched server-side from the call's own vendor and streamed to the browser.

A recording URL comes from a vendor, so it is untrusted input aimed at our network (SSRF).
Before one byte is requested:

- the scheme is http or https, and https when the vendor account's base URL is https;
- the host (and port) is one the vendor account owns: `allowed_origins()` (its base URL's
  host today; extend it when a vendor reports recordings on a host of its own);
- the name is resolved here and every address is checked: private, loopback, link-local,
  reserved, multicast, unspecified, shared and IPv4-mapped addresses are refused. The one
  exception is an account whose own base URL is a loopback host (the sandbox on 127.0.0.1):
  that exact host and port may be loopback;
- the connection goes to the address that was checked (no second lookup an attacker's DNS
  could answer differently), with the host name sent as `Host` and used for TLS;
- redirects are not followed (a 3xx is refused), and size and time are capped.

The browser only ever sees `/calls/<id>/recording`, never the vendor's URL or credentials.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from vendors.models import VendorAccount

MAX_BYTES = 200 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# A whole transfer may not take longer than this (a slow drip would hold a worker forever).
MAX_SECONDS = 15 * 60
CHUNK = 64 * 1024

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_NAMES = {"localhost"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Answers passed to the browser as they are; anything else becomes a download of bytes, so a
# vendor cannot make our origin serve HTML.
_AUDIO_TYPES = re.compile(r"^(audio/[\w.+-]+|video/mp4|application/octet-stream)$")


class RecordingRefused(Exception):
    """The recording cannot be served; `status` is what the browser gets (4xx or 502)."""

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class Target:
    """A checked recording URL and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def pinned_url(self) -> str:
        ip = ipaddress.ip_address(self.address)
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        return urlunsplit((self.scheme, f"{literal}:{self.port}", self.path, "", ""))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _origin(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return Origin(scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme])


def allowed_origins(account: VendorAccount) -> set[Origin]:
    """Where this account's recordings may be fetched from: its own base URL's host.

    Extend here (not at the call site) when a vendor reports recordings on another host.
    """
    origin = _origin(account.base_url)
    return {origin} if origin else set()


def _is_loopback_host(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why callops must not connect to this address, or None when it is a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped address"
        if ip.sixtofour is not None or ip.teredo is not None:
            return "a tunnelled address"
    # Most specific first: 127.0.0.1 and 169.254.x are "private" too, but named for what they are.
    checks = [
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("an unspecified address", ip.is_unspecified),
        ("a multicast address", ip.is_multicast),
        ("a reserved address", ip.is_reserved),
        ("a private address", ip.is_private),
        ("a non-public address", not ip.is_global),
    ]
    return next((reason for reason, hit in checks if hit), None)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RecordingRefused(f"The recording host {host} cannot be resolved ({exc}).") from None
    # Scope ids ("fe80::1%eth0") are dropped before parsing.
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def check_recording_url(url: str, account: VendorAccount) -> Target:
    """The target to fetch `url` from, or RecordingRefused saying why it is not allowed."""
    if not url:
        raise RecordingRefused("This call has no recording.", status=404)
    origin = _origin(url)
    if origin is None:
        scheme = urlsplit(url).scheme or "no"
        raise RecordingRefused(
            f"The vendor gave a recording address callops does not fetch ({scheme} scheme)."
        )
    account_origin = _origin(account.base_url)
    if account_origin and account_origin.scheme == "https" and origin.scheme != "https":
        raise RecordingRefused("The vendor's recording address is not https.")
    allowed = {(o.host, o.port) for o in allowed_origins(account)}
    if (origin.host, origin.port) not in allowed:
        raise RecordingRefused(
            f"The recording is on {origin.host}:{origin.port}, which is not a host of "
            f"{account.name}."
        )
    # Loopback is allowed only when the account itself lives there (the sandbox), and then
    # only for that exact host and port (already checked above).
    loopback_account = account_origin is not None and _is_loopback_host(account_origin.host)
    addresses = resolve(origin.host, origin.port)
    if not addresses:
        raise RecordingRefused(f"The recording host {origin.host} has no address.")
    for address in addresses:
        ip = ipaddress.ip_address(address)
        reason = forbidden_address(ip)
        if reason is None:
            continue
        if loopback_account and ip.is_loopback and not _is_mapped(ip):
            continue
        raise RecordingRefused(
            f"The recording host {origin.host} resolves to {reason}; callops does not fetch it."
        )
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        url=url,
        scheme=origin.scheme,
        host=origin.host,
        port=origin.port,
        address=addresses[0],
        path=path,
    )


def _is_mapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None


class _PinnedHostAdapter(HTTPAdapter):
    """Connects to the checked IP while TLS still verifies the certificate of the host name."""

    def __init__(self, host: str, **kwargs: Any) -> None:
        self._host = host
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._host
        kwargs["assert_hostname"] = self._host
        super().init_poolmanager(*args, **kwargs)


def _session(target: Target) -> requests.Session:
    session = requests.Session()
    # No proxies, netrc or other settings from the environment: they would bypass the pin.
    session.trust_env = False
    session.mount("https://", _PinnedHostAdapter(target.host, max_retries=0))
    session.mount("http://", HTTPAdapter(max_retries=0))
    return session


def clean_range(value: str | None) -> str | None:
    """A single byte range to forward, or None (anything else is not forwarded)."""
    if not value:
        return None
    match = _RANGE.match(value.strip())
    if not match or match.groups() == ("", ""):
        return None
    return value.strip()


@dataclass
class RecordingStream:
    status: int
    headers: dict[str, str]
    body: Iterator[bytes]


def open_recording(
    url: str, account: VendorAccount, *, range_header: str | None
) -> RecordingStream:
    """Open the recording at `url` for streaming, or raise RecordingRefused."""
    target = check_recording_url(url, account)
    headers = {"Host": target.host_header, "Accept": "audio/*, */*;q=0.5"}
    byte_range = clean_range(range_header)
    if byte_range:
        headers["Range"] = byte_range
    session = _session(target)
    try:
        upstream = session.get(
            target.pinned_url,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
        )
    except requests.RequestException as exc:
        session.close()
        raise RecordingRefused(
            f"The vendor's recording server could not be reached ({type(exc).__name__})."
        ) from None
    try:
        return _answer(upstream, session)
    except RecordingRefused:
        upstream.close()
        session.close()
        raise


def _answer(upstream: requests.Response, session: requests.Session) -> RecordingStream:
    status = upstream.status_code
    if 300 <= status < 400:
        raise RecordingRefused("The vendor answered the recording with a redirect; not followed.")
    if status == 404:
        raise RecordingRefused("The vendor no longer has this recording.", status=404)
    if status == 416:
        size = upstream.headers.get("Content-Range", "")
        return RecordingStream(416, {"Content-Range": size}, iter(()))
    if status not in (200, 206):
        raise RecordingRefused(f"The vendor answered the recording request with HTTP {status}.")
    length = upstream.headers.get("Content-Length", "")
    if length and (not length.isdigit() or int(length) > MAX_BYTES):
        raise RecordingRefused(
            f"The recording is larger than callops serves ({MAX_BYTES // (1024 * 1024)} MB)."
        )
    content_type = upstream.headers.get("Content-Type", "").split(";")[0].strip().lower()
    headers = {
        "Content-Type": content_type
        if _AUDIO_TYPES.match(content_type)
        else "application/octet-stream",
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=300",
    }
    if length:
        headers["Content-Length"] = length
    if status == 206 and upstream.headers.get("Content-Range"):
        headers["Content-Range"] = upstream.headers["Content-Range"]
    return RecordingStream(status, headers, _stream(upstream, session))


def _stream(upstream: requests.Response, session: requests.Session) -> Iterator[bytes]:
    """The body in chunks, cut off at MAX_BYTES or MAX_SECONDS."""
    deadline = time.monotonic() + MAX_SECONDS
    sent = 0
    try:
        for chunk in upstream.iter_content(CHUNK):
            sent += len(chunk)
            if sent > MAX_BYTES or time.monotonic() > deadline:
                # Headers are gone already: stopping short makes the browser see a cut body.
                return
            yield chunk
    except requests.RequestException:
        return
    finally:
        upstream.close()
        session.close()
