"""Fixtures of the gateway tests: an app on a fresh database, and keys of each scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gateway_helpers import NOW, make_keys

from api.app import create_app
from crm.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="test-secret", api_rate_burst=10_000)  # type: ignore[arg-type]


@pytest.fixture
def client(db_url: str, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, database_url=db_url, key_cache_s=0, clock=lambda: NOW)
    with TestClient(app) as c:
        c.keys = make_keys(db_url)  # type: ignore[attr-defined]
        c.db_url = db_url  # type: ignore[attr-defined]
        yield c
