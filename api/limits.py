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
    """Refuse bodies over ``max_bytes`` with 413: by ``Content-Length``, else while reading.

    A body without a length (chunked) is read here, up to the limit, before the app sees
    it: refused at the limit, else replayed to the app whole. (Counting inside the app's
    own reads would fail in the middle of a route, which FastAPI answers with a 400.)
    """

    def __init__(self, app: Callable[..., Any], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    return await self._refuse(send)
                return await self.app(scope, receive, send)  # the server reads no more
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(send)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when the client goes away

        await self.app(scope, replay, send)

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
