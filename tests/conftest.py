"""Shared fixtures. ``db_url`` runs a test on SQLite and, when CRM_TEST_POSTGRES_URL is set
(``make test`` and CI start a throwaway server), on PostgreSQL too, each time on a fresh,
fully migrated database."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm.db import migrate

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "crm.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("CRM_TEST_POSTGRES_URL is not set")
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(POSTGRES_URL)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"crm_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(base.set(database=name).render_as_string(hide_password=False))
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_db(template: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(POSTGRES_URL)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"crm_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated database: SQLite, then PostgreSQL when available."""
    if request.param == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "crm.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("_postgres_template")
        yield from _postgres_db(template)


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """URL of a fresh, migrated SQLite database (for tests about SQLite only)."""
    path = tmp_path / "crm.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"
