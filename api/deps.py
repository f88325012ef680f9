"""The gateway's dependencies: its state, a database session, the settings, the caller's key.

Endpoints take them as ``Annotated[..., Depends(...)]`` aliases (``SessionDep``,
``SettingsDep``, ``IntakeKey``…) so tests can swap any of them through
``app.dependency_overrides``. A session is NOT committed by the dependency: an endpoint
that writes commits before it returns, so what it acknowledges is durable before the 2xx.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.groupcommit import IntakeWriter
from api.keys import KeyInfo, hash_key, lookup_key
from api.limits import RateLimiter, take_once
from crm.settings import Settings

__all__ = [
    "AdminKey",
    "GatewayState",
    "IntakeKey",
    "ReadKey",
    "SessionDep",
    "SettingsDep",
    "StateDep",
    "get_session",
    "get_settings",
    "get_state",
    "require_scope",
]


def _utcnow() -> dt.datetime:  # the gateway is a top-level caller: it reads the clock
    return dt.datetime.now(dt.UTC)


@dataclass
class GatewayState:
    """What one running gateway holds: engine, settings, rate limiter, a short key cache."""

    engine: Engine
    settings: Settings
    limiter: RateLimiter
    key_cache_s: float = 2.0
    clock: Callable[[], dt.datetime] = _utcnow
    heads: tuple[str, ...] = ()
    _keys: dict[str, tuple[KeyInfo | None, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _flights: dict[tuple[int, str], asyncio.Future[KeyInfo | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.intake = IntakeWriter(
            self.engine, self.clock, sqlite_synchronous=self.settings.api_sqlite_synchronous
        )

    async def key_async(self, plain: str) -> KeyInfo | None:
        """:meth:`key` from the event loop: the cache, else one lookup off the loop per key.

        An entry past half its life is looked up again in the background while requests
        go on with it (it is never used past ``key_cache_s``, so a revocation still takes
        effect within that): under steady load no request waits for a key lookup, which
        on SQLite queues behind the intake writer's commit. An entry missing or expired
        (a gateway idle for a while) is waited for; every request holding that key then
        waits for the same single lookup instead of each asking the database.
        """
        digest = hash_key(plain)
        hit = self._keys.get(digest)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            if hit[1] - now < self.key_cache_s / 2:
                self._lookup_once(plain, digest)  # not awaited: this request goes on
            return hit[0]
        return await asyncio.shield(self._lookup_once(plain, digest))

    def _lookup_once(self, plain: str, digest: str) -> asyncio.Future[KeyInfo | None]:
        """The lookup of ``plain`` in flight on this loop, started if there is none."""
        flight_key = (id(asyncio.get_running_loop()), digest)
        flight = self._flights.get(flight_key)
        if flight is None:
            flight = asyncio.ensure_future(run_in_threadpool(self._lookup, plain))
            self._flights[flight_key] = flight
            flight.add_done_callback(lambda _done: self._flights.pop(flight_key, None))
        return flight

    def key(self, plain: str) -> KeyInfo | None:
        """The key behind ``plain`` (cached for ``key_cache_s``: a revocation takes that long)."""
        hit = self._keys.get(hash_key(plain))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return self._lookup(plain)

    def _lookup(self, plain: str) -> KeyInfo | None:
        """Ask the database for ``plain`` and cache the answer."""
        now = time.monotonic()
        with self.sessions() as session:
            info = lookup_key(session, plain)
        if self.key_cache_s > 0:
            with self._lock:
                if len(self._keys) > 10_000:
                    self._keys.clear()
                self._keys[hash_key(plain)] = (info, now + self.key_cache_s)
        return info


async def get_state(request: Request) -> GatewayState:
    """The running gateway's :class:`GatewayState` (async: no thread hop per request)."""
    return request.app.state.gateway  # type: ignore[no-any-return]


StateDep = Annotated[GatewayState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    """The gateway's settings."""
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for one request; rolled back unless the endpoint committed."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer crm_…`")


def require_scope(scope: str) -> Callable[..., Awaitable[KeyInfo]]:
    """A dependency that lets a request through only with a live key holding ``scope``.

    401 without a key or with an unknown/revoked one, 403 with a key of another scope,
    429 (with ``Retry-After``) when the key is over its rate limit; a request takes one
    token whichever path answers it (:func:`api.limits.take_once`).
    """

    async def check(
        state: StateDep,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> KeyInfo:
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        info = await state.key_async(credentials.credentials)
        if info is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in info.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this key has scope {', '.join(sorted(info.scopes))}; this endpoint needs {scope}",
            )
        wait = take_once(state.limiter, request.scope, info.key_id)
        if wait > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "rate limit exceeded for this key",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        return info

    check.__name__ = f"require_{scope.replace('-', '_')}"
    return check


IntakeKey = Annotated[KeyInfo, Depends(require_scope("intake"))]
AdminKey = Annotated[KeyInfo, Depends(require_scope("delivery-admin"))]
ReadKey = Annotated[KeyInfo, Depends(require_scope("read"))]
