"""What stands in front of every customer page: who is asking (the peer's address, or
X-Forwarded-For when the peer is a trusted proxy), how often (a token bucket per
address: `portal_rate_limit` requests a minute, 429 beyond), and how much they send
(a POST must say its length, at most MAX_BODY bytes).  Refusals are whole pages in the
customer's language, drawn before the request reaches a route.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.page import lang_of, page, text
from settings import Settings, proxy_networks

MAX_BODY = 64 * 1024  # a request's fields at their caps, URL-encoded Chinese, fit well
ADDRESSES = 50_000  # buckets kept; the least recently seen go first


class RateLimit:
    """A token bucket per key: `per_minute` requests in a burst, then one every
    60 / per_minute seconds.  Thread-safe; `clock` is for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def allow(self, key: str, per_minute: int) -> bool:
        """Take one request from `key`'s bucket; False when it is empty."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - at) * per_minute / 60.0)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > ADDRESSES:
                self._buckets.popitem(last=False)
        return allowed


def client_address(peer: str | None, forwarded: str | None,
                   trusted: list[IPv4Network | IPv6Network]) -> str:
    """Who is asking: the peer, unless it is a trusted proxy; then the nearest address
    of X-Forwarded-For (read from the right) that is not a trusted proxy itself."""
    chain = [peer or ""]
    if forwarded:
        chain = [part.strip() for part in forwarded.split(",")][-20:] + chain
    for hop in reversed(chain):
        if not _within(hop, trusted):
            return hop
    return chain[0]


def bucket_key(address: str) -> str:
    """The key an address is counted under: itself, or its /64 for IPv6 (one machine
    usually holds a whole /64)."""
    try:
        found = ip_address(address)
    except ValueError:
        return address[:64]
    if found.version == 4:
        return str(found)
    if found.ipv4_mapped:
        return str(found.ipv4_mapped)
    return str(ip_network(f"{found}/64", strict=False))


def _within(address: str, trusted: list[IPv4Network | IPv6Network]) -> bool:
    if not trusted:
        return False
    try:
        found = ip_address(address)
    except ValueError:
        return False
    return any(found in net for net in trusted if net.version == found.version)


class Guard:
    """ASGI middleware over the portal's app: the rate limit and the size cap."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings],
                 limit: RateLimit | None = None) -> None:
        self.app, self.settings = app, settings
        self.limit = limit or RateLimit()
        self._proxies: tuple[str, list] = ("", [])  # the setting's text, parsed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        s = self.settings()
        request = Request(scope)
        who = client_address(request.client.host if request.client else None,
                             request.headers.get("x-forwarded-for"),
                             self._trusted(s.trusted_proxies))
        refusal = None
        if not self.limit.allow(bucket_key(who), s.portal_rate_limit):
            refusal = (429, "portal.too_many", {"Retry-After": str(_retry(s))})
        elif request.method == "POST":
            length = request.headers.get("content-length", "")
            if not length.isdigit():
                refusal = (411, "portal.no_length", {})
            elif int(length) > MAX_BODY:
                refusal = (413, "portal.too_big", {})
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, key, headers = refusal
        lang = lang_of(request)
        response = page(text("portal.refused", lang), f"<p>{text(key, lang)}</p>", lang,
                        status=status)
        response.headers.update(headers)
        await response(scope, receive, send)

    def _trusted(self, value: str) -> list:
        if self._proxies[0] != value:
            self._proxies = (value, proxy_networks(value))
        return self._proxies[1]


def _retry(s: Settings) -> int:
    """Seconds until one more request is allowed, rounded up."""
    return max(1, -(-60 // s.portal_rate_limit))
