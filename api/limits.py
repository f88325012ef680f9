"""Request size limit (an ASGI middleware) and the per-key rate limit (token buckets).

A request takes at most one token: :func:`take_once` keeps the outcome in the request's
ASGI scope, so an intake POST that :mod:`api.fastpath` checked and then handed to its
route (to answer the 429) is not charged again by the route's dependency.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["BodySizeLimit", "RateLimiter", "take_once"]

Scope = dict[str, Any]

_TAKEN = "crm.rate_limit_wait"  # the scope entry holding this request's take


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, by ``Content-Length`` or while streaming."""

    def __init__(self, app: Callable[..., Any], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    return await self._refuse(send)
        seen = 0
        refused = False

        async def limited() -> dict[str, Any]:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            if refused:
                await self._refuse(send)

    async def _refuse(self, send: Callable[..., Any]) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second, bursts up to ``burst``.

    ``clock`` is injectable so tests step time by hand instead of sleeping.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float:
        """Take one token for ``key_id``; returns 0 when allowed, else seconds to wait."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


def take_once(limiter: RateLimiter, scope: MutableMapping[str, Any], key_id: int) -> float:
    """:meth:`RateLimiter.take` once per request: a second call returns the first answer.

    Parameters
    ----------
    limiter : the gateway's rate limiter.
    scope : the request's ASGI scope (shared by the middlewares and the route).
    key_id : the caller's API key.

    Returns
    -------
    float
        0 when the request may go on, else the seconds to wait (``Retry-After``).
    """
    taken = scope.get(_TAKEN)
    if taken is None or taken[0] != key_id:
        taken = scope[_TAKEN] = (key_id, limiter.take(key_id))
    return float(taken[1])
