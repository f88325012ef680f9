"""Shared fixtures. ``db_url`` runs a test on SQLite and, when CRM_TEST_POSTGRES_URL is set
(``make test`` and CI start a throwaway server), on PostgreSQL too, each time on a fresh,
fully migrated database. ``prefect_harness`` is one Prefect test server for the whole session
(per xdist worker), shared by every flow test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports prefect (its settings are read once, at import): a PREFECT_HOME of this
# session's own, so two test runs on one machine never share Prefect's files or database.
_PREFECT_HOME = tempfile.mkdtemp(prefix="crm-test-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, True)
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

from crm.db import migrate  # noqa: E402

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "")
# the first start migrates Prefect's own database: minutes, not seconds, on a busy 2-core machine
PREFECT_STARTUP_TIMEOUT = 600


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One Prefect test server (its own temporary database) for the session; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=PREFECT_STARTUP_TIMEOUT):
        yield str(PREFECT_API_URL.value())


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
