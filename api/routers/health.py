"""``/health`` (the process answers) and ``/ready`` (database reachable, migrations current)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import StateDep
from api.schemas import Health, Ready

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", summary="The service is up", response_model=Health)
async def health() -> Health:
    """Answers as long as the process serves requests; touches nothing else (no thread hop)."""
    return Health(status="ok")


@router.get(
    "/ready",
    summary="The database is reachable and its schema is current",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready: database down or behind."}},
)
def ready(state: StateDep) -> Ready | JSONResponse:
    """503 until the database answers and its Alembic revision is the code's head."""
    try:
        with state.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception as exc:  # any database failure means "not ready", with its kind
        body = Ready(
            status="unavailable",
            database=False,
            migrations_current=False,
            detail=type(exc).__name__,
        )
        return JSONResponse(body.model_dump(), status_code=503)
    current = sorted(rows) == sorted(state.heads)
    body = Ready(
        status="ok" if current else "migrations pending",
        database=True,
        migrations_current=current,
        detail=None
        if current
        else f"database at {', '.join(rows) or 'nothing'}; run crm db upgrade",
    )
    return body if current else JSONResponse(body.model_dump(), status_code=503)
