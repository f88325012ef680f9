"""Migrations and models agree: upgrading to every head gives exactly ``Base.metadata``.

This guards every room's migration: a column added to a model without a revision
(or a revision whose types differ from the model's) shows up as a difference here.
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import crm.models  # noqa: F401  (registers every room's tables)
from crm.db import _alembic_config, make_engine, migrate
from crm.models import Base


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(_alembic_config(url)).get_heads())


def _current(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def test_schema_after_upgrade_equals_the_models(db_url: str) -> None:
    # db_url is a fresh database upgraded to "heads" by crm.db.migrate
    assert _current(db_url) == _heads(db_url)
    assert _differences(db_url) == []


def test_every_model_table_exists(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_upgrade_from_empty_file_and_again_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate(url)
    migrate(url)  # already at heads: nothing to do, nothing fails
    assert _current(url) == _heads(url)
    assert _differences(url) == []


def test_core_revision_is_the_root() -> None:
    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    assert list(script.get_bases()) == ["0001_core"]  # every room branches off the core
