"""``crm db`` and ``crm status``: the schema and what the database holds."""

from __future__ import annotations

import typer
from rich.table import Table

from flows.cli._common import console, database_url, friendly_errors, safe_url

__all__ = ["app", "status"]

app = typer.Typer(help="Database schema and migrations.", no_args_is_help=True)


@app.command("upgrade")
@friendly_errors
def upgrade(
    revision: str = typer.Argument("heads", help="Alembic revision to upgrade to."),
) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from crm.db import migrate

    url = database_url()
    migrate(url, revision)
    console.print(f"database at [bold]{safe_url(url)}[/bold] is at revision {revision}")


@friendly_errors
def status() -> None:
    """Row counts and data freshness of every table."""
    from crm.status import table_status

    url = database_url()
    frame = table_status(url)
    table = Table(title=f"CRM database {safe_url(url)}")
    for col in frame.columns:
        table.add_column(col, justify="right" if col == "rows" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None or v != v else str(v) for v in row))
    console.print(table)
