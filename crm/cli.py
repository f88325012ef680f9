"""The ``crm`` command's core: database, sample data, import, status.

Commands of other rooms (segments, loyalty, campaigns) are added to :data:`app`
in :mod:`flows.cli`, which is the installed entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from crm.errors import CRMError
from crm.settings import get_settings

__all__ = ["app", "console", "database_url", "friendly_errors"]

app = typer.Typer(
    name="crm",
    help="CRM-marketing platform: clean CRM data, build profiles and segments, run loyalty and campaigns.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema and migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console(stderr=False)
err_console = Console(stderr=True)


def database_url() -> str:
    """The configured database URL (``CRM_DATABASE_URL``, default SQLite under ./var)."""
    return get_settings().resolved_database_url


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors (and a few common ones) into one clear line and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CRMError, FileNotFoundError, PermissionError, ValueError) as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        except Exception as exc:  # database errors and the like: still one line, with the kind
            if "--debug" in sys.argv:
                raise
            err_console.print(f"[red]error ({type(exc).__name__}):[/red] {str(exc).splitlines()[0]}")
            raise typer.Exit(1) from None

    return wrapper


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(revision: str = typer.Argument("heads", help="Alembic revision to upgrade to.")) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from crm.db import migrate

    url = database_url()
    migrate(url, revision)
    console.print(f"database at [bold]{_safe(url)}[/bold] is at revision {revision}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("status")
@friendly_errors
def status() -> None:
    """Row counts and data freshness of every table."""
    from crm.status import table_status

    frame = table_status(database_url())
    table = Table(title=f"CRM database {_safe(database_url())}")
    for col in frame.columns:
        table.add_column(col, justify="right" if col == "rows" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None or v != v else str(v) for v in row))
    console.print(table)
