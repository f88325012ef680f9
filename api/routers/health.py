"""``/health`` (the process answers) and ``/ready`` (database reachable, migrations current).

Both are usually answered by :mod:`api.fastpath` in front of FastAPI, with the same
:data:`HEALTH` and :func:`ready_answer`; these routes answer the rest (a ``HEAD``, an app
built without the fast path) and are what OpenAPI documents.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import GatewayState, StateDep
from api.schemas import Health, Ready

__all__ = ["HEALTH", "ready_answer", "router"]

router = APIRouter(tags=["health"])

HEALTH = Health(status="ok")
"""The one answer of ``/health``."""


@router.get("/health", summary="The service is up", response_model=Health)
async def health() -> Health:
    """Answers as long as the process serves requests; touches nothing else (no thread hop)."""
    return HEALTH


@router.get(
    "/ready",
    summary="The database is reachable and its schema is current",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready: database down or behind."}},
)
def ready(state: StateDep) -> Ready | JSONResponse:
    """503 until the database answers and its Alembic revision is the code's head."""
    ok, body = ready_answer(state)
    return body if ok else JSONResponse(body.model_dump(), status_code=503)


def ready_answer(state: GatewayState) -> tuple[bool, Ready]:
    """Whether the gateway is ready (200) or not (503), and the body that says why.

    Blocking (one query): call it from a thread, as ``/ready``'s route and the fast path do.
    """
    try:
        with state.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception as exc:  # any database failure means "not ready", with its kind
        return False, Ready(
            status="unavailable",
            database=False,
            migrations_current=False,
            detail=type(exc).__name__,
        )
    current = sorted(rows) == sorted(state.heads)
    return current, Ready(
        status="ok" if current else "migrations pending",
        database=True,
        migrations_current=current,
        detail=None
        if current
        else f"database at {', '.join(rows) or 'nothing'}; run crm db upgrade",
    )
