"""Helpers of the gateway tests (imported by the tests and conftest)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.keys import create_key
from crm.db import make_engine, session_scope

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def make_keys(url: str) -> dict[str, str]:
    """One key per scope, named after it."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return {
                scope: create_key(session, scope, [scope], NOW)[1]
                for scope in ("intake", "delivery-admin", "read")
            }
    finally:
        engine.dispose()


def auth(client: TestClient, scope: str) -> dict[str, str]:
    """The Authorization header of the client's key of ``scope``."""
    return {"Authorization": f"Bearer {client.keys[scope]}"}  # type: ignore[attr-defined]
