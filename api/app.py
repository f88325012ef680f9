"""The FastAPI gateway: one app factory, the routers, the limits, masked logs.

Start it with ``crm api`` (uvicorn); tests build it with :func:`create_app` and a
database URL of their own.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from api import masking
from api.deps import GatewayState, _utcnow
from api.fastpath import IntakeFastPath
from api.limits import BodySizeLimit, RateLimiter
from api.routers import customers, delivery, health, intake, loyalty
from crm import store
from crm.db import make_engine
from crm.settings import Settings

__all__ = ["Gateway", "create_app", "default_workers", "migration_heads"]

DESCRIPTION = """The platform's door to the outside: event intake from sites, apps, call centres
and SMS replies; the loyalty quote and redemption; the customer card; delivery-status webhooks,
one-click unsubscribe and open/click tracking.

Every `/v1` route needs an API key (`Authorization: Bearer crm_…`) with the route's scope:
`intake`, `delivery-admin` or `read`. Create one with `crm api key create --scope intake`.
POSTs accept an `Idempotency-Key` header: a retry with the same key returns the first response.
"""


def migration_heads() -> tuple[str, ...]:
    """The Alembic head revision(s) of the code (what ``/ready`` expects the database at)."""
    from alembic.script import ScriptDirectory

    from crm.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    return tuple(sorted(script.get_heads()))


def default_workers(url: str, cores: int | None = None) -> int:
    """The gateway processes ``crm api`` starts unless told: 1 on SQLite, a core each on PostgreSQL.

    One process answers every request on one event loop, so it serves at most one core's
    worth of requests (about 0.13 ms of CPU per accepted event). On PostgreSQL the
    processes' batches commit side by side, so a process per core uses the machine; on
    SQLite every batch takes the one write lock, and a second process's writer mostly
    waits for the first one's commit (measured: fewer events per second and twice the
    p99 of one process), so one process it is.

    Parameters
    ----------
    url : the database URL the gateway serves.
    cores : the machine's cores (default: ``os.cpu_count()``).

    Examples
    --------
    >>> default_workers("sqlite:///var/crm.db", cores=8)
    1
    >>> default_workers("postgresql+psycopg://crm@db/crm", cores=8)
    8
    """
    if store.dialect(url) != "postgresql":
        return 1
    return max(1, cores if cores is not None else os.cpu_count() or 1)


def _field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 whose every problem names its field (``field``) besides FastAPI's ``loc``."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{**err, "field": _field(err.get("loc", ()))} for err in errors]
    for item in detail:
        item.pop("ctx", None)  # may hold exception objects; the message already says it
        item.pop("input", None)  # may hold personal data, and is what the client sent anyway
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


class Gateway(FastAPI):
    """The FastAPI application, with the probes and valid intake POSTs answered in front of it.

    ``fast_path`` (an :class:`api.fastpath.IntakeFastPath`, set by :func:`create_app`)
    sees every HTTP request first and hands all but ``GET /health``, ``GET /ready`` and the
    valid, authorised intake POSTs to FastAPI's own stack; None sends everything there.
    """

    fast_path: IntakeFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and scope["type"] == "http":
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def freeze_startup_heap() -> None:
    """Take what the process holds once it has started out of the collector's full passes.

    The gateway imports pandas, SQLAlchemy, pydantic and FastAPI: some 150,000 objects
    that live as long as the process. Python's cyclic collector walks every one of them in
    each full (generation 2) collection, about 100 ms here, and under load a full
    collection comes every few seconds: every request in flight waits for it, which is
    what a p99 of 110-120 ms against a median of 10 ms was. :func:`gc.freeze` moves the
    objects alive at startup into a permanent generation that collections skip (CPython's
    documented use: after start-up, before serving); what requests allocate is collected
    as before. Done once per process (a test process builds many apps): a heap already
    frozen is left as it is.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    key_cache_s: float = 2.0,
    clock: Callable[[], dt.datetime] = _utcnow,
    fast_intake: bool = True,
) -> FastAPI:
    """Build the gateway.

    Parameters
    ----------
    settings : the platform settings (default: read from the environment).
    database_url : overrides ``settings.resolved_database_url``.
    key_cache_s : seconds a looked-up API key is cached (a revocation takes effect within it).
    clock : the gateway's "now" (tests pass a fixed one).
    fast_intake : answer the probes and valid intake POSTs in :mod:`api.fastpath`, in front
        of FastAPI (False: every one through its FastAPI route, the same answers at several
        times the CPU per request).
    """
    if settings is None:
        from crm.settings import get_settings

        settings = get_settings()
    url = database_url or settings.resolved_database_url
    engine = make_engine(url)
    state = GatewayState(
        engine=engine,
        settings=settings,
        limiter=RateLimiter(settings.api_rate_per_s, settings.api_rate_burst),
        key_cache_s=key_cache_s,
        clock=clock,
        heads=migration_heads(),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        masking.install()
        freeze_startup_heap()
        yield
        await state.intake.aclose()
        engine.dispose()

    app = Gateway(
        title="CRM gateway",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # no OpenTelemetry here: FastAPI's check for a configured provider costs per request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.gateway = state
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    if fast_intake:
        app.fast_path = IntakeFastPath(
            partial(FastAPI.__call__, app), state, settings.api_max_body_bytes
        )
    for module in (health, intake, loyalty, customers, delivery):
        app.include_router(module.router)
    return app
